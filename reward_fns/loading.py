"""Bring grader modules in: the built-ins, installed packages' entry points, and user files.

A grader module registers its graders with ``@reward_fns.register`` when it is imported. Three
ways in, all loaded once, on the registry's first use (:func:`load_all`):

* the built-in modules (``reward_fns.math.grader``, ``reward_fns.code.grader``);
* every entry point of the group ``reward_fns.graders`` of an installed package (its value
  names the module, e.g. ``my_graders = "my_pkg.graders"`` in ``pyproject.toml``);
* the files or modules listed in ``REWARD_FNS_MODULES`` (``os.pathsep``-separated), which is how
  a user's own file reaches every process of a run (Ray workers inherit the environment).

:func:`load_module` loads one more on demand (``metaagent eval --reward-module my_graders.py``).
A module that fails to import is reported (log line and :func:`load_errors`), never fatal.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import sys
import threading
from types import ModuleType

ENTRY_POINT_GROUP = "reward_fns.graders"
MODULES_ENV = "REWARD_FNS_MODULES"
BUILTIN_MODULES = ("reward_fns.math.grader", "reward_fns.code.grader")

logger = logging.getLogger("reward_fns")
_LOCK = threading.RLock()
_LOADED = False
_ERRORS: dict[str, str] = {}


def load_module(spec: str) -> ModuleType:
    """Import the grader module ``spec``: a ``.py`` file path or a dotted module name.

    Its ``@reward_fns.register`` calls run on import; loading the same file twice is a no-op.

    Raises:
        FileNotFoundError: ``spec`` looks like a file path and there is no such file.
        ImportError: the module cannot be imported (the message names ``spec``).
    """
    spec = str(spec).strip()
    if spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec):
        path = os.path.abspath(os.path.expanduser(spec))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"reward module {spec!r}: no such file")
        stem = os.path.splitext(os.path.basename(path))[0]
        name = f"reward_fns_user_{stem}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
        with _LOCK:
            if name in sys.modules:
                return sys.modules[name]
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"reward module {spec!r}: not a Python file")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            return module
    return importlib.import_module(spec)


def load_modules(specs, flag: str = "--reward-module") -> None:
    """:func:`load_module` each of ``specs``; any failure is a ``ValueError`` naming ``flag`` and the spec."""
    for spec in specs or ():
        try:
            load_module(spec)
        except Exception as exc:  # noqa: BLE001 - a user's file may raise anything on import
            raise ValueError(f"{flag} {spec}: cannot load it ({type(exc).__name__}: {exc})") from None


def _entry_points():
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _try(label: str, load) -> None:
    try:
        load()
    except Exception as exc:  # noqa: BLE001 - one broken plugin must not take the others down
        _ERRORS[label] = f"{type(exc).__name__}: {exc}"
        logger.warning("reward_fns: could not load grader module %s: %s", label, _ERRORS[label])


def load_all() -> None:
    """Load the built-ins, the ``reward_fns.graders`` entry points and ``REWARD_FNS_MODULES`` (once)."""
    global _LOADED
    if _LOADED:
        return
    with _LOCK:
        if _LOADED:
            return
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        for ep in _entry_points():
            dist = getattr(getattr(ep, "dist", None), "name", "?")
            _try(f"{ep.value!r} (entry point {ep.name!r} of {dist})", ep.load)
        for spec in filter(None, (s.strip() for s in os.environ.get(MODULES_ENV, "").split(os.pathsep))):
            _try(f"{spec!r} (from {MODULES_ENV})", lambda spec=spec: load_module(spec))
        _LOADED = True


def load_errors() -> dict[str, str]:
    """Grader modules that failed to load: ``{which module: error}``."""
    return dict(_ERRORS)


def _reset_for_tests() -> None:
    """Forget that plugins were loaded (the next registry use loads them again)."""
    global _LOADED
    with _LOCK:
        _LOADED = False
        _ERRORS.clear()
