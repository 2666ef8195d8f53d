"""What a child imports before its privilege drop: names of installed, trusted modules -- never code.

A run's child imports its preload as root (the interpreter's and the plugin's files may be
unreadable, or absent from the file-system jail, after the drop); the zygote imports it once and
forks every run from that warm heap. So a preload is a tuple of module names, each in the
standard library or in one of :data:`PROJECT_PACKAGES`, and nothing a caller writes (a program,
files in the work dir) can be imported by it: the child's ``sys.path`` is the standard library's
(``python -I -S``), and project packages are reached through their own directory only.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from typing import Iterable

#: The default preload: what untrusted programs commonly import (also the warm-up of the default zygote).
PRELOAD_MODULES = (
    "sys", "os", "io", "json", "math", "re", "time", "resource", "selectors", "signal", "collections",
    "itertools", "functools", "heapq", "bisect", "string", "random", "fractions", "decimal", "statistics",
    "operator", "copy", "typing", "array", "traceback", "builtins", "struct", "queue", "threading", "enum",
    "dataclasses", "datetime", "cmath", "numbers", "abc", "keyword", "textwrap", "pprint", "hashlib", "base64",
    "locale", "encodings.idna", "unicodedata", "calendar", "contextlib", "gc", "weakref", "collections.abc",
    "zlib", "ctypes",
)


def _package_dirs(*names: str) -> "dict[str, str]":
    """``{name: directory}`` of the installed top-level packages among ``names``, found without importing
    them (``find_spec`` of a top-level name runs no ``__init__``); a name that is not installed is left out."""
    dirs = {}
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs[name] = os.path.abspath(list(spec.submodule_search_locations)[0])
    return dirs


#: Top-level packages of this project a preload may name, with their directories. A child enters
#: one through a bare module whose ``__path__`` is that directory: its ``__init__`` does not run
#: (the plugin's installs an import hook) and the project root never goes on ``sys.path``. The
#: sandbox itself imports nothing of them; without the plugin installed this is empty.
PROJECT_PACKAGES = _package_dirs("verl_metaagent")

#: Standard-library modules whose import does something (opens a browser, prints, starts a GUI demo).
_NOT_PRELOADABLE = frozenset({"antigravity", "this", "idlelib", "turtledemo"})

_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def check_preload(names: Iterable[str]) -> "tuple[str, ...]":
    """``names`` as a tuple if every one is a module a child may import before its drop.

    Raises:
        TypeError: ``names`` is a string (code, or one name not in a tuple).
        ValueError: a name is not a dotted module name, or is neither in the standard library nor
            in :data:`PROJECT_PACKAGES`; the message names it and says what to do instead.
    """
    if isinstance(names, (str, bytes)):
        raise TypeError(
            "preload must be a tuple of module names, not a string (the sandbox runs no code before the drop)"
        )
    checked = tuple(names)
    for name in checked:
        if not isinstance(name, str) or not _DOTTED_NAME.fullmatch(name):
            raise ValueError(f"preload: {name!r} is not a module name; give installed modules to import, e.g. 'json'")
        top = name.split(".", 1)[0]
        if top in _NOT_PRELOADABLE or (top not in sys.stdlib_module_names and top not in PROJECT_PACKAGES):
            raise ValueError(
                f"preload: {name!r} is neither a standard-library module nor in {sorted(PROJECT_PACKAGES)}; "
                "only trusted, installed modules are imported before the privilege drop: import it in the program"
            )
    return checked
