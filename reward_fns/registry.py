"""Registry of graders keyed by ``data_source``.

Lookup order: exact name, then the longest registered prefix (a name ending in ``/``, e.g.
``math/``), then aliases (``aime24`` -> ``math/aime24``), then verl's own data sources
(``openai/gsm8k``, ...: :mod:`reward_fns.verl_fallback`). Graders come from the built-in
modules, installed packages (entry-point group ``reward_fns.graders``) and user files
(:mod:`reward_fns.loading`), all loaded on first use. An unknown ``data_source`` raises
:class:`UnknownDataSource` naming everything that is registered and how to add a grader;
:func:`missing_graders` finds them before any work is spent on a data set.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Optional, Union

from reward_fns import loading
from reward_fns.types import GradeResult
from reward_fns.verl_fallback import verl_grader

GradeFn = Callable[..., Union[GradeResult, Awaitable[GradeResult]]]


class UnknownDataSource(KeyError, ValueError):
    """No grader is registered for a ``data_source`` (a ``KeyError``, and a ``ValueError`` so that
    command lines report it as a bad input)."""

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


def _lookup(name: str) -> Optional[Entry]:
    if name in _EXACT:
        return _EXACT[name]
    best = None
    for prefix, entry in _PREFIX.items():
        if name.startswith(prefix) and (best is None or len(prefix) > len(best.name)):
            best = entry
    return best


def resolve(data_source: str) -> Entry:
    """The grader entry for ``data_source`` (exact, prefix, alias, then verl's own data sources)."""
    loading.load_all()
    entry = _lookup(data_source)
    if entry is None and data_source in _ALIASES:
        entry = _lookup(_ALIASES[data_source])
    if entry is None:
        fallback = verl_grader(data_source)
        if fallback is not None:
            return Entry(name=f"verl:{data_source}", fn=fallback, is_async=False)
        raise UnknownDataSource(missing_graders_message([data_source]))
    return entry


def registered() -> dict[str, list[str]]:
    """Everything registered: ``{"exact": [...], "prefixes": [...], "aliases": [...]}``."""
    loading.load_all()
    return {"exact": sorted(_EXACT), "prefixes": sorted(_PREFIX), "aliases": sorted(_ALIASES)}


def missing_graders(data_sources: Iterable[str]) -> list[str]:
    """The data sources (sorted, once each) that no grader handles: nothing registered for them
    (built in, from an installed package or a loaded module) and verl does not grade them either.

    Call it before the first LLM call of a run (``metaagent eval``, distillation, the trainer).
    """
    missing = set()
    for name in {str(d) for d in data_sources}:
        try:
            resolve(name)
        except UnknownDataSource:
            missing.add(name)
    return sorted(missing)


def missing_graders_message(missing: Iterable[str], where: str = "") -> str:
    """What to tell a user whose data has data sources without a grader: which ones, what is
    registered, and the ways to add a grader."""
    names = sorted(set(missing))
    shown = ", ".join(repr(n) for n in names)
    reg = {"exact": sorted(_EXACT), "prefixes": sorted(_PREFIX), "aliases": sorted(_ALIASES)}
    lines = [
        f"no reward function (grader) for data_source {shown}" + (f" in {where}" if where else "") + ".",
        f"Registered names: {reg['exact']}; prefixes: {reg['prefixes']}; aliases: {reg['aliases']}.",
        "Add one: write a module with @reward_fns.register(" + repr(names[0] if names else "<name>") + ") "
        "(see reward_fns/CONTRIBUTING.md) and load it with --reward-module FILE (metaagent solve/eval, "
        f"distillation), {loading.MODULES_ENV}=FILE (any process, training too), or an installed package's "
        f"entry point in group {loading.ENTRY_POINT_GROUP!r}; or name the rows' data_source with a built-in "
        "prefix (math/<name>, code/<name>).",
    ]
    errors = loading.load_errors()
    if errors:
        lines.append("Grader modules that failed to load: " + "; ".join(f"{k}: {v}" for k, v in errors.items()) + ".")
    return " ".join(lines)


def check_graders(data_sources: Iterable[str], where: str = "") -> None:
    """Raise :class:`UnknownDataSource` (with :func:`missing_graders_message`) if any of
    ``data_sources`` has no grader. ``where`` names the data in the message (``"aime24.parquet"``)."""
    missing = missing_graders(data_sources)
    if missing:
        raise UnknownDataSource(missing_graders_message(missing, where))


def _as_result(value: Any) -> GradeResult:
    if isinstance(value, GradeResult):
        return value
    if isinstance(value, dict):
        score = float(value["score"])
        return GradeResult(score=score, correct=bool(value.get("acc", score > 0)), detail=dict(value))
    score = float(value)
    return GradeResult(score=score, correct=score >= 1.0, detail={})
