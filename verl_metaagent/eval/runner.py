"""Run the evaluation: every (system, benchmark, problem, sample) attempt once, resumably.

``await evaluate_async(problems, systems, client, out_dir, settings)`` runs attempts concurrently
(``settings.concurrency`` in flight; the client keeps its own request limit), appends each
finished attempt to ``out_dir/records.jsonl`` (+ its tree to ``traces.jsonl``; see
:mod:`.records`) and shows a progress bar. A rerun with the same folder skips every attempt
already recorded, so a killed run continues where it stopped and nothing is done or counted
twice. Attempts that raise (an endpoint that stays down, ...) or whose agent calls failed
(execution status ``backend_error``: the model was never asked, so it is no wrong answer) go to
``errors.jsonl``, are not recorded and are retried by the next run; after
``settings.max_errors`` failures the run stops.

CoT self-consistency runs last: its number of votes per benchmark is matched to MetaAgent-X's
measured calls on that benchmark (:func:`~.systems.matched_sc_k`) unless ``settings.sc_k`` fixes
it, and the ``k`` first used on a benchmark is kept by later resumptions.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from verl_metaagent.eval.benchmarks import EvalProblem
from verl_metaagent.eval.records import RunStore, make_record, record_key, tree_to_dict
from verl_metaagent.eval.settings import RESUME_KEYS, EvalSettings
from verl_metaagent.eval.systems import System, matched_sc_k, solve_kwargs

__all__ = ["EvalAborted", "EvalReport", "evaluate", "evaluate_async", "check_graders", "check_settings"]


class EvalAborted(RuntimeError):
    """Too many attempts failed; finished attempts are kept and a rerun continues."""


class AttemptFailed(RuntimeError):
    """An execution's LLM call failed (status ``backend_error``): the attempt is retried, not scored."""


@dataclass
class EvalReport:
    """What one call of :func:`evaluate_async` did.

    Attributes:
        total: attempts the run covers; ``skipped``: already recorded before this run;
        ran: finished and recorded now; ``errors``: failed now (in ``errors.jsonl``);
        sc_k: CoT self-consistency votes per benchmark; ``usage``: the client's tally.
    """

    out_dir: str
    total: int = 0
    skipped: int = 0
    ran: int = 0
    errors: int = 0
    sc_k: dict = field(default_factory=dict)
    usage: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def check_settings(store: RunStore, settings: EvalSettings) -> None:
    """Write ``settings.json`` on the first run; on a resumption refuse settings that change results."""
    current = settings.as_dict()
    if os.path.exists(store.settings_path):
        try:
            with open(store.settings_path, encoding="utf-8") as fh:
                stored = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{store.settings_path} is unreadable ({exc}); "
                             "delete it only if the records were made with the current settings") from None
        changed = [k for k in RESUME_KEYS if k in stored and stored.get(k) != current.get(k)]
        if changed:
            diffs = ", ".join(f"{k}: {stored.get(k)!r} -> {current.get(k)!r}" for k in changed)
            raise ValueError(
                f"--out {store.out_dir} holds results made with other settings ({diffs}); "
                "resume with the same settings, or pass a new --out folder"
            )
        return
    os.makedirs(store.out_dir, exist_ok=True)
    tmp = store.settings_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(current, fh, indent=2, sort_keys=True)
    os.replace(tmp, store.settings_path)


def check_graders(problems: Mapping[str, Sequence[EvalProblem]]) -> None:
    """Raise ``ValueError`` (:class:`reward_fns.UnknownDataSource`) naming every data source of the
    benchmarks' graded rows that has no grader, and how to add one."""
    import reward_fns

    by_source: dict[str, list[str]] = {}
    for bench, plist in problems.items():
        for problem in plist:
            if problem.spec.ground_truth is not None:
                by_source.setdefault(problem.spec.data_source, []).append(bench)
    missing = reward_fns.missing_graders(by_source)
    if missing:
        benches = sorted({b for name in missing for b in by_source[name]})
        raise reward_fns.UnknownDataSource(
            reward_fns.missing_graders_message(missing, "the rows of " + ", ".join(benches)))


def _sc_k_for(benchmark: str, records: Sequence[dict], settings: EvalSettings) -> Optional[int]:
    if settings.sc_k is not None:
        return settings.sc_k
    used = Counter(r.get("sc_k") for r in records
                   if r["system"] == "cot_sc" and r["benchmark"] == benchmark and r.get("sc_k"))
    if used:
        return int(used.most_common(1)[0][0])
    return matched_sc_k(r["llm_calls"] for r in records if r["system"] == "metaagent" and r["benchmark"] == benchmark)


async def evaluate_async(
    problems: Mapping[str, Sequence[EvalProblem]],
    systems: Sequence[System],
    client: Any,
    out_dir: str,
    settings: Optional[EvalSettings] = None,
    *,
    progress: bool = True,
    keep_traces: bool = True,
    solve_fn: Optional[Callable] = None,
) -> EvalReport:
    """Evaluate ``systems`` on ``problems`` (benchmark name -> problems) with ``client``; see the module docstring.

    Raises:
        ValueError: bad settings, or settings that differ from the run already in ``out_dir``.
        EvalAborted: ``settings.max_errors`` attempts failed (rerun to continue).
    """
    from verl_metaagent.solve import solve_async

    settings = (settings or EvalSettings()).validate()
    # answers are graded by reward_fns: every data source needs a grader, checked before any LLM call
    if solve_fn is None:
        check_graders(problems)
    solve_fn = solve_fn or solve_async
    store = RunStore(out_dir)
    check_settings(store, settings)
    records = store.load_records()
    done = {record_key(r) for r in records}
    report = EvalReport(out_dir=out_dir)

    def keys_of(system: System) -> list[tuple]:
        return [
            (system, problem, s)
            for bench, plist in problems.items()
            for problem in plist
            if system.applies_to(problem.spec.task_type)
            for s in range(settings.samples)
        ]

    plain = [s for s in systems if s.kind != "cot_sc"]
    sc_systems = [s for s in systems if s.kind == "cot_sc"]
    if sc_systems and settings.sc_k is None and not any(s.kind == "metaagent" for s in systems):
        missing = [b for b in problems if _sc_k_for(b, records, settings) is None]
        if missing:
            raise ValueError(
                f"cot_sc matches MetaAgent-X's LLM calls, but there are no metaagent results for {missing}: "
                "add metaagent to --systems, or fix the votes with --sc-k N"
            )
    first = [t for system in plain for t in keys_of(system)]
    second = [t for system in sc_systems for t in keys_of(system)]
    report.total = len(first) + len(second)
    report.skipped = sum(1 for system, problem, s in first + second
                         if (system.id, problem.benchmark, problem.problem_id, s) in done)

    bar = _progress(report.total, report.skipped, progress)
    semaphore = asyncio.Semaphore(settings.concurrency)
    stop = asyncio.Event()

    async def attempt(system: System, problem: EvalProblem, sample: int, sc_k: Optional[int]) -> None:
        key = (system.id, problem.benchmark, problem.problem_id, sample)
        if key in done:
            return
        async with semaphore:
            if stop.is_set():
                return
            started = time.monotonic()
            try:
                result = await solve_fn(client=client, **solve_kwargs(system, problem, sample, settings, sc_k=sc_k))
                backend = [e.reason for d in result.tree.designs for e in d.executions if e.status == "backend_error"]
                if backend:  # the model was never asked: a failed attempt, not a wrong answer
                    raise AttemptFailed(backend[0])
                record = make_record(system=system.id, benchmark=problem.benchmark, problem=problem, sample=sample,
                                     result=result, seconds=time.monotonic() - started, sc_k=sc_k)
                trace = None
                if keep_traces:
                    trace = {k: record[k] for k in ("system", "benchmark", "problem_id", "sample")}
                    trace["tree"] = tree_to_dict(result.tree)
                store.add(record, trace)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is logged and retried by the next run
                report.errors += 1
                store.errors.write({
                    "system": key[0], "benchmark": key[1], "problem_id": key[2], "sample": key[3],
                    "error": f"{type(exc).__name__}: {exc}"[:2000],
                    "traceback": traceback.format_exc()[-4000:],
                    "time": time.time(),
                })
                if report.errors >= settings.max_errors:
                    stop.set()
            else:
                done.add(key)
                report.ran += 1
            finally:
                bar.update(1)
                bar.set_postfix(errors=report.errors, refresh=False)

    try:
        await asyncio.gather(*(attempt(system, problem, s, None) for system, problem, s in first))
        if second and not stop.is_set():
            records = store.load_records()
            for bench in problems:
                k = _sc_k_for(bench, records, settings)
                if k is None:
                    report.notes.append(f"cot_sc skipped on {bench}: no metaagent results to match (pass --sc-k N)")
                else:
                    report.sc_k[bench] = k
            await asyncio.gather(*(
                attempt(system, problem, s, report.sc_k[problem.benchmark])
                for system, problem, s in second
                if problem.benchmark in report.sc_k
            ))
    finally:
        bar.close()
    usage = getattr(client, "usage", None)
    report.usage = usage.as_dict() if hasattr(usage, "as_dict") else {}
    if stop.is_set():
        raise EvalAborted(
            f"stopped after {report.errors} failed attempts (see {store.errors.path}); "
            f"{report.ran} new attempts were recorded. Fix the cause (endpoint, model name, key) and rerun "
            "the same command to continue, or raise --max-errors"
        )
    return report


def evaluate(*args, **kwargs) -> EvalReport:
    """Synchronous :func:`evaluate_async`."""
    return asyncio.run(evaluate_async(*args, **kwargs))


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, initial=initial, desc="eval", unit="attempt", file=sys.stderr, dynamic_ncols=True)
