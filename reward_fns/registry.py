"""Registry of graders keyed by ``data_source``.

Lookup order: exact name, then the longest registered prefix (a name ending in ``/``, e.g.
``math/``), then aliases (``aime24`` -> ``math/aime24``). An unknown ``data_source`` raises
:class:`UnknownDataSource` naming everything that is registered.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional, Union

from reward_fns.types import GradeResult

GradeFn = Callable[..., Union[GradeResult, Awaitable[GradeResult]]]


class UnknownDataSource(KeyError):
    """No grader is registered for a ``data_source``."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown data_source"


@dataclass
class Entry:
    """One registered grader: ``fn(answer, ground_truth, extra_info, **kwargs)``, sync or async."""

    name: str
    fn: GradeFn
    is_async: bool


_EXACT: dict[str, Entry] = {}
_PREFIX: dict[str, Entry] = {}
_ALIASES: dict[str, str] = {}
_LOCK = threading.Lock()
_BUILTINS_LOADED = False
# Modules whose import registers the built-in graders.
_BUILTIN_MODULES = ("reward_fns.math.grader", "reward_fns.code.grader")


def register(name: str, *, aliases: tuple[str, ...] = (), replace: bool = False) -> Callable[[GradeFn], GradeFn]:
    """Decorator registering a grader for ``name`` (exact) or ``name`` ending in ``/`` (prefix).

    The decorated function is called as ``fn(answer, ground_truth, extra_info, **kwargs)`` and
    returns a :class:`GradeResult` (a coroutine function is awaited; a float is accepted and wrapped).

    Args:
        name: exact data_source (``"math/aime24"``) or a prefix ending in ``/`` (``"math/"``).
        aliases: other names resolving to ``name`` (checked after exact names and prefixes).
        replace: allow overriding an existing registration (otherwise a ValueError).
    """
    if not name:
        raise ValueError("register(name): name must be a non-empty data_source or prefix ending in '/'")

    def deco(fn: GradeFn) -> GradeFn:
        entry = Entry(name=name, fn=fn, is_async=inspect.iscoroutinefunction(fn))
        table = _PREFIX if name.endswith("/") else _EXACT
        with _LOCK:
            if name in table and not replace and table[name].fn is not fn:
                raise ValueError(f"data_source {name!r} is already registered; pass replace=True to override")
            table[name] = entry
            for alias in aliases:
                _ALIASES[alias] = name
        return fn

    return deco


def unregister(name: str) -> None:
    """Remove a registration (and aliases pointing to it); for tests and experiments."""
    with _LOCK:
        _EXACT.pop(name, None)
        _PREFIX.pop(name, None)
        for alias in [a for a, target in _ALIASES.items() if target == name]:
            del _ALIASES[alias]


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    _BUILTINS_LOADED = True


def _lookup(name: str) -> Optional[Entry]:
    if name in _EXACT:
        return _EXACT[name]
    best = None
    for prefix, entry in _PREFIX.items():
        if name.startswith(prefix) and (best is None or len(prefix) > len(best.name)):
            best = entry
    return best


def resolve(data_source: str) -> Entry:
    """The grader entry for ``data_source`` (exact, then prefix, then alias)."""
    _load_builtins()
    entry = _lookup(data_source)
    if entry is None and data_source in _ALIASES:
        entry = _lookup(_ALIASES[data_source])
    if entry is None:
        raise UnknownDataSource(
            f"no reward function registered for data_source {data_source!r}. Registered names: "
            f"{sorted(_EXACT)}; prefixes: {sorted(_PREFIX)}; aliases: {sorted(_ALIASES)}. "
            "Add one with @reward_fns.register('<name>') (see reward_fns/CONTRIBUTING.md)."
        )
    return entry


def registered() -> dict[str, list[str]]:
    """Everything registered: ``{"exact": [...], "prefixes": [...], "aliases": [...]}``."""
    _load_builtins()
    return {"exact": sorted(_EXACT), "prefixes": sorted(_PREFIX), "aliases": sorted(_ALIASES)}


def _as_result(value: Any) -> GradeResult:
    if isinstance(value, GradeResult):
        return value
    if isinstance(value, dict):
        score = float(value["score"])
        return GradeResult(score=score, correct=bool(value.get("acc", score > 0)), detail=dict(value))
    score = float(value)
    return GradeResult(score=score, correct=score >= 1.0, detail={})
