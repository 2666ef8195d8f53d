"""Lazy package exports: ``__getattr__`` that imports a name's submodule on first access.

Keeps ``import verl_metaagent.<package>`` light (no torch / verl / httpx until a name is used)::

    __getattr__ = lazy_exports(__name__, {"execute_design": "runtime", ...})
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` resolving ``name`` from ``f"{package}.{where[name]}"`` (then cached)."""

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
