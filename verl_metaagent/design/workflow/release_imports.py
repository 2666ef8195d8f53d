"""What ``import os`` / ``import sys`` mean inside a design: small stand-ins, never the real modules.

The released model's designs start with ``import os`` and ``import sys`` (boilerplate of its
training data), read ``os.getenv(...)`` now and then, may ``sys.path.insert(...)``, and end with
``sys.exit(1)`` on error. The static filter accepts these imports in the workflow dialect; this
module decides what they bind to. A design's builtins carry :func:`_design_import`, which hands
out:

* ``os``: ``getenv`` (always the default: a design sees an empty environment), ``environ`` (an
  empty dict of its own), ``sep``/``linesep``/``curdir``/``pardir``, ``getcwd()`` (``"/design"``),
  and ``os.path`` with the pure string functions (``join``, ``dirname``, ``basename``, ``split``,
  ``splitext``, ``normpath``, ``isabs``, ``abspath`` relative to ``/design``) plus ``exists`` /
  ``isfile`` / ``isdir`` that answer False (a design has no files to see);
* ``sys``: ``exit`` (raises ``SystemExit``, which the runtime turns into a clean end that keeps an
  answer ``workflow.run`` already sent), ``argv``, ``path`` (a list of the design's own),
  ``version``, ``version_info``, ``platform``, ``maxsize`` and write-only ``stdout``/``stderr``.

Anything else is an ``AttributeError`` that says what a design's ``os``/``sys`` offers. No stand-in
holds a reference to the real module, a file or a stream, so they give a design nothing it could
not do before (the sandbox stays the barrier; the static filter still rejects private and
dunder attributes). Every other import goes to Python's own ``__import__`` unchanged.
"""

from __future__ import annotations

import builtins as _builtins
import posixpath as _posixpath
import sys as _real_sys
import types as _types
from typing import Any

__all__ = ["EXIT_MARK", "SHIMMED_MODULES", "make_os", "make_sys"]

#: The design's working directory as its ``os`` reports it.
DESIGN_CWD = "/design"
#: Written to stderr by a design's ``sys.exit(code)`` (code not 0/None); the runtime names it in the
#: reason of an execution that ended without an answer.
EXIT_MARK = "[design] sys.exit"

_real_import = _builtins.__import__


def _restricted_module(name: str, doc: str, offers: str) -> _types.ModuleType:
    module = _types.ModuleType(name, doc)

    def __getattr__(attr: str) -> Any:
        raise AttributeError(
            f"{name}.{attr} is not available to a design (designs run in a sandbox); {name} offers {offers}")

    module.__getattr__ = __getattr__
    return module


def _abspath(path: str) -> str:
    return _posixpath.normpath(_posixpath.join(DESIGN_CWD, str(path)))


def _false(path: Any) -> bool:
    return False


def make_os() -> _types.ModuleType:
    """A fresh design ``os`` (see the module docstring)."""
    path = _restricted_module("os.path", "Pure path-string functions.",
                              "join, dirname, basename, split, splitext, normpath, isabs, abspath, "
                              "exists, isfile, isdir, sep")
    for fn in (_posixpath.join, _posixpath.dirname, _posixpath.basename, _posixpath.split, _posixpath.splitext,
               _posixpath.normpath, _posixpath.isabs):
        setattr(path, fn.__name__, fn)
    path.abspath = _abspath
    path.exists = path.isfile = path.isdir = _false
    path.sep = "/"
    os_module = _restricted_module("os", "A design's os: no environment, no files, no processes.",
                                   "getenv, environ, path, sep, linesep, curdir, pardir, getcwd")

    def getenv(key: str, default: Any = None) -> Any:
        """A design's environment is empty: always ``default``."""
        return default

    os_module.getenv = getenv
    os_module.environ = {}
    os_module.path = path
    os_module.sep, os_module.linesep, os_module.curdir, os_module.pardir = "/", "\n", ".", ".."
    os_module.getcwd = lambda: DESIGN_CWD
    return os_module


class _WriteOnlyStream:
    """``sys.stdout`` / ``sys.stderr`` of a design: ``write`` and ``flush`` only."""

    def __init__(self, to_stderr: bool):
        self.to_stderr = to_stderr

    def write(self, text: Any) -> int:
        text = str(text)
        print(text, end="", file=_real_sys.stderr if self.to_stderr else _real_sys.stdout)
        return len(text)

    def flush(self) -> None:
        (_real_sys.stderr if self.to_stderr else _real_sys.stdout).flush()


def make_sys() -> _types.ModuleType:
    """A fresh design ``sys`` (see the module docstring)."""
    module = _restricted_module("sys", "A design's sys: exit, argv and facts about the interpreter.",
                                "exit, argv, path, version, version_info, platform, maxsize, stdout, stderr")

    def exit(status: Any = None) -> None:
        """End the design (``SystemExit``); an answer already sent by ``workflow.run`` is kept."""
        if status not in (None, 0):
            print(f"\n{EXIT_MARK}({status!r})", file=_real_sys.stderr, flush=True)
        raise SystemExit(status)

    module.exit = exit
    module.argv = ["design.py"]
    module.path = []
    module.version, module.version_info = _real_sys.version, tuple(_real_sys.version_info)
    module.platform, module.maxsize = _real_sys.platform, _real_sys.maxsize
    module.stdout, module.stderr = _WriteOnlyStream(False), _WriteOnlyStream(True)
    return module


#: Top-level names :func:`_design_import` answers with a stand-in.
SHIMMED_MODULES = ("os", "sys")


def _design_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    """``__import__`` of a design: stand-ins for ``os`` / ``os.path`` / ``sys``, Python's import otherwise."""
    top, _, rest = str(name).partition(".")
    if level == 0 and top in SHIMMED_MODULES:
        module = _SHIMS.get(top)
        if module is None:
            module = _SHIMS[top] = make_os() if top == "os" else make_sys()
        if not fromlist:
            return module
        target = module
        for part in rest.split(".") if rest else []:
            try:
                target = getattr(target, part)
            except AttributeError:
                raise ImportError(f"No module named {name!r} (a design's {top} has no {part!r})") from None
        return target
    return _real_import(name, globals, locals, fromlist, level)


_SHIMS: dict[str, _types.ModuleType] = {}


def _design_builtins() -> dict:
    """The builtins dict of a design's globals: Python's, with ``__import__`` = :func:`_design_import`.

    Private (like every object here that could import or open anything): designs can import this
    module as ``workflow.release_imports``, and the static filter rejects private names only.
    """
    _SHIMS.clear()
    names = dict(_builtins.__dict__)
    names["__import__"] = _design_import
    return names
