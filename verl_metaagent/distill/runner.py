"""The distillation run: the teacher designs and executes MetaAgent-X trees; good samples are journaled.

Per problem (in parallel, ``max_problems_in_flight`` at a time) the same
:class:`~verl_metaagent.rollout.tree_runner.TreeRunner` as training grows an M x N tree with
the teacher as the policy (behind :class:`~verl_metaagent.clients.OpenAIChatClient`: concurrency
limit, retries with backoff on 429/5xx/timeouts): the teacher writes M designs from the ``full``
designer prompt, each valid design runs N times in the sandbox with the teacher answering every
agent call, and :mod:`reward_fns` grades the answers. :func:`~.select.candidates_from_tree` keeps
the candidates and the problem's record is appended to the journal (fsync'd) before the next
one is counted. A restart skips journaled problems, so a kill loses at most the problems that
were in flight. The run stops starting problems once the candidate pools (after de-duplication
and per-problem caps) reach ``target x oversample`` for both roles, or the problems run out.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from verl_metaagent.distill.export import JOURNAL_NAME, ExportConfig
from verl_metaagent.distill.journal import Journal, JournalError
from verl_metaagent.distill.records import SFTSample
from verl_metaagent.distill.select import SelectionConfig, candidates_from_tree, cap_per_problem, dedupe

__all__ = ["TeacherConfig", "DistillConfig", "Problem", "load_problems", "problem_id_of", "RunSummary", "run_distill"]


@dataclass
class TeacherConfig:
    """The teacher endpoint (any OpenAI-compatible ``/v1/chat/completions``).

    Attributes:
        base_url / model: endpoint and served model name (CLI defaults: ``$TEACHER_BASE_URL``, ``$TEACHER_MODEL``).
        api_key_env: name of the environment variable holding the key (never the key itself).
        max_concurrency: requests in flight.
        max_retries / timeout / backoff_base / backoff_cap: retry policy per request (seconds).
        price_in / price_out: USD per million prompt / completion tokens, for the cost tally.
        extra_body: extra JSON fields of every request (e.g. ``{"chat_template_kwargs": {"enable_thinking": false}}``).
    """

    base_url: str = ""
    model: str = ""
    api_key_env: Optional[str] = "TEACHER_API_KEY"
    max_concurrency: int = 32
    max_retries: int = 6
    timeout: float = 600.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    price_in: float = 0.0
    price_out: float = 0.0
    extra_body: dict = field(default_factory=dict)

    def client(self):
        """An :class:`~verl_metaagent.clients.OpenAIChatClient` for this endpoint."""
        from verl_metaagent.clients import OpenAIChatClient

        return OpenAIChatClient(
            self.base_url,
            self.model,
            api_key_env=self.api_key_env,
            max_concurrency=self.max_concurrency,
            max_retries=self.max_retries,
            timeout=self.timeout,
            backoff_base=self.backoff_base,
            backoff_cap=self.backoff_cap,
            price_per_mtok=(self.price_in, self.price_out),
            extra_body=self.extra_body or None,
        )


@dataclass
class DistillConfig:
    """One distillation run (every field is a CLI flag: ``num_designs`` -> ``--num-designs``).

    Attributes:
        problems: verl RL parquet files (``examples/data_prep`` rows) to draw problems from.
        out: output folder (journal, parquet, stats).
        teacher: the endpoint.
        num_designs / num_executions: M x N tree per problem (paper 4 x 4).
        designer_temperature / designer_top_p / executor_temperature / executor_top_p: teacher sampling.
        max_tokens: generation cap per call.
        max_agent_calls / wall_seconds: per-execution budget.
        max_problems_in_flight: problems grown concurrently.
        max_concurrent_executions: sandboxed executions at once (each is a child process).
        max_attempts: a problem that failed this many times (endpoint gave up) is skipped.
        oversample: collect ``target x oversample`` candidates so the pattern balance has room.
        limit / shuffle / seed: problem subset and order (seeded).
        selection / export: what is kept and how the final set is drawn.
    """

    problems: list = field(default_factory=list)
    out: str = "outputs/cold_start"
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    num_designs: int = 4
    num_executions: int = 4
    designer_temperature: float = 1.0
    designer_top_p: float = 0.9
    executor_temperature: float = 0.6
    executor_top_p: float = 0.95
    max_tokens: int = 8192
    max_agent_calls: int = 16
    wall_seconds: float = 600.0
    max_problems_in_flight: int = 8
    max_concurrent_executions: int = 16
    max_attempts: int = 3
    oversample: float = 1.25
    limit: int = 0
    shuffle: bool = False
    seed: int = 0
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def validate(self) -> "DistillConfig":
        """Check every value; errors name the CLI flag and the fix."""
        if not self.problems:
            raise ValueError("--problems: give at least one verl parquet of problems (see examples/data_prep)")
        for path in self.problems:
            if not os.path.isfile(path):
                raise ValueError(f"--problems {path}: no such file")
        if not self.teacher.base_url.startswith(("http://", "https://")):
            raise ValueError("--base-url must start with http:// or https:// (or set TEACHER_BASE_URL), "
                             f"got {self.teacher.base_url!r}")
        if not self.teacher.model:
            raise ValueError("--model is empty: pass the teacher's served model name (or set TEACHER_MODEL)")
        positive = {
            "num_designs": "4", "num_executions": "4", "max_tokens": "8192", "max_agent_calls": "16",
            "max_problems_in_flight": "8", "max_concurrent_executions": "16", "max_attempts": "3",
        }
        for name, fix in positive.items():
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)} "
                                 f"(e.g. --{name.replace('_', '-')} {fix})")
        for name in ("max_concurrency", "max_retries"):
            value = getattr(self.teacher, name)
            if value < (1 if name == "max_concurrency" else 0):
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= {1 if name == 'max_concurrency' else 0}, got {value}")
        if self.teacher.timeout <= 0 or self.wall_seconds <= 0:
            raise ValueError("--timeout and --wall-seconds must be > 0")
        for name in ("designer_temperature", "executor_temperature"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        for name in ("designer_top_p", "executor_top_p"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"--{name.replace('_', '-')} must be in (0, 1], got {getattr(self, name)}")
        if self.oversample < 1:
            raise ValueError(f"--oversample must be >= 1 (1 = stop at the targets), got {self.oversample}")
        if self.limit < 0:
            raise ValueError(f"--limit must be >= 0 (0 = all problems), got {self.limit}")
        self.selection.validate()
        self.export.validate()
        return self

    def rollout_config(self):
        """The ``metaagent.rollout`` config of the teacher's trees (training-like sampling, ``full`` prompt)."""
        from verl_metaagent.rollout.config import BudgetConfig, RolloutTreeConfig, SamplingConfig

        cfg = RolloutTreeConfig(
            num_designs=self.num_designs,
            num_executions=self.num_executions,
            prompt_variant="full",
            max_concurrent_executions=self.max_concurrent_executions,
            designer_sampling=SamplingConfig(temperature=self.designer_temperature, top_p=self.designer_top_p,
                                             max_tokens=self.max_tokens),
            executor_sampling=SamplingConfig(temperature=self.executor_temperature, top_p=self.executor_top_p,
                                             max_tokens=self.max_tokens),
            budget=BudgetConfig(max_agent_calls=self.max_agent_calls, wall_seconds=self.wall_seconds),
            merge_multi_turn=False,
            seed=self.seed,
        )
        return cfg.validate("distill")

    def public_dict(self) -> dict:
        """The config for the journal header (no secrets: the key lives in the environment)."""
        data = asdict(self)
        data["teacher"].pop("extra_body", None)
        return data


#: Settings that shape the trees and what is kept; a resumed run must use the same values, or
#: the journal would silently mix samples drawn under different settings.
TREE_SETTINGS = (
    "num_designs", "num_executions", "designer_temperature", "designer_top_p", "executor_temperature",
    "executor_top_p", "max_tokens", "max_agent_calls", "seed", "selection",
)


def check_resume_config(header: Optional[dict], current: dict, path: str) -> None:
    """Refuse to resume a journal written with other tree settings (or another teacher model)."""
    previous = (header or {}).get("config") or {}
    if not previous:
        return
    changes = [f"{k}: {previous[k]!r} -> {current.get(k)!r}" for k in TREE_SETTINGS
               if k in previous and previous[k] != current.get(k)]
    old_model, new_model = (previous.get("teacher") or {}).get("model"), (current.get("teacher") or {}).get("model")
    if old_model is not None and old_model != new_model:
        changes.append(f"model: {old_model!r} -> {new_model!r}")
    if changes:
        raise JournalError(
            f"{path} was written with other settings ({'; '.join(changes)}); "
            "resume with the original flags, or use a new --out folder"
        )


# --------------------------------------------------------------------------------------------- problems


@dataclass
class Problem:
    """A problem to distil: its journal id and the tree runner's :class:`ProblemSpec`."""

    id: str
    spec: Any
    short_prompt: list


def problem_id_of(data_source: str, question: str) -> str:
    """Stable id of a problem: a hash of its data source and text (the same problem twice = one id)."""
    return hashlib.sha256(f"{data_source}\x00{question}".encode("utf-8")).hexdigest()[:16]


_REQUIRED = ("data_source", "prompt", "reward_model")


def load_problems(paths: list, *, limit: int = 0, shuffle: bool = False,
                  seed: int = 0) -> tuple[list[Problem], Counter]:
    """Read verl RL parquet rows into problems (de-duplicated by id).

    Returns:
        ``(problems, counts)`` with counts ``rows`` and ``duplicates``.

    Raises:
        ValueError: a file lacks a column, a row has no ground truth, or no grader exists for a
            ``data_source`` (the message names the file, row and fix).
    """
    import random

    import pandas as pd

    from reward_fns.registry import resolve
    from verl_metaagent.rollout.problems import problem_from_fields
    from verl_metaagent.rollout.tree_runner import designer_messages

    counts: Counter = Counter()
    problems: list[Problem] = []
    seen: set = set()
    checked_sources: set = set()
    for path in paths:
        frame = pd.read_parquet(path)
        missing = [c for c in _REQUIRED if c not in frame.columns]
        if missing:
            raise ValueError(
                f"--problems {path}: missing column(s) {', '.join(missing)}; expected verl RL rows "
                "(data_source, prompt, reward_model.ground_truth, extra_info) as examples/data_prep writes them"
            )
        for i, row in enumerate(frame.to_dict("records")):
            counts["rows"] += 1
            where = f"--problems {path} row {i}"
            fields = {"raw_prompt": row.get("prompt"), "data_source": row.get("data_source"),
                      "ability": row.get("ability"), "reward_model": row.get("reward_model"),
                      "extra_info": row.get("extra_info")}
            try:
                spec = problem_from_fields(fields, uid="pending", problem_index=i)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            if spec.ground_truth is None or spec.ground_truth == "":
                raise ValueError(f"{where}: no reward_model.ground_truth; "
                                 "distillation grades every execution, so every problem needs one")
            if spec.data_source not in checked_sources:
                try:
                    resolve(spec.data_source)
                except KeyError as exc:
                    raise ValueError(
                        f"{where}: {exc}. Fix the data_source column or register a grader in reward_fns") from None
                checked_sources.add(spec.data_source)
            pid = problem_id_of(spec.data_source, spec.question)
            if pid in seen:
                counts["duplicates"] += 1
                continue
            seen.add(pid)
            spec.uid = pid
            problems.append(Problem(id=pid, spec=spec, short_prompt=designer_messages(spec, "short")))
    if shuffle:
        random.Random(seed).shuffle(problems)
    if limit:
        problems = problems[:limit]
    for index, problem in enumerate(problems):
        problem.spec.problem_index = index
    return problems, counts


# --------------------------------------------------------------------------------------------- progress


class KeptCounter:
    """Running pool sizes exactly as export computes them before balancing
    (dedupe in journal order, per-problem caps)."""

    def __init__(self, export: ExportConfig):
        self.export = export
        self.seen: set = set()
        self.kept = Counter()
        self.rejected = Counter()

    def add(self, record: dict) -> None:
        """Count one journaled ``problem`` record."""
        for role, cap in (("designer", self.export.designer_per_problem),
                          ("executor", self.export.executor_per_problem)):
            samples = []
            for data in record.get(role, []):
                try:
                    samples.append(SFTSample.from_dict(data))
                except ValueError:
                    continue
            unique, dup = dedupe(samples, self.seen)
            self.kept[role] += len(cap_per_problem(unique, cap))
            self.rejected["duplicate"] += dup
        self.rejected.update(record.get("rejected") or {})

    def reached(self, oversample: float) -> bool:
        """Both pools hold at least ``target x oversample`` (a role with target 0 never stops the run alone)."""
        targets = {"designer": self.export.target_designer, "executor": self.export.target_executor}
        if not any(targets.values()):
            return False
        return all(self.kept[r] >= t * oversample for r, t in targets.items() if t)


@dataclass
class RunSummary:
    """What one :func:`run_distill` call did."""

    problems_total: int = 0
    skipped_done: int = 0
    skipped_gave_up: int = 0
    attempted: int = 0
    done: int = 0
    errors: int = 0
    first_error: str = ""
    stopped_at_target: bool = False
    kept: dict = field(default_factory=dict)
    rejected: dict = field(default_factory=dict)
    usage: dict = field(default_factory=dict)
    journal_usage: dict = field(default_factory=dict)
    seconds: float = 0.0


def _tree_usage(tree: Any, price_in: float, price_out: float) -> dict:
    prompt = completion = calls = 0
    for design in tree.designs:
        if design.messages is not None:
            calls += 1
        prompt += design.prompt_tokens
        completion += design.completion_tokens
        for execution in design.executions:
            calls += len(execution.calls)
            prompt += execution.prompt_tokens
            completion += execution.completion_tokens
    cost = (prompt * price_in + completion * price_out) / 1e6
    return {"calls": calls, "prompt_tokens": prompt, "completion_tokens": completion, "cost_usd": round(cost, 6)}


def _backend_errors(tree: Any) -> list[str]:
    return [e.reason for d in tree.designs for e in d.executions if e.status == "backend_error"]


def _format_tokens(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


def _check_graders(problems: list) -> None:
    """Every graded problem's data source has a grader (before the teacher is paid); else
    ``ValueError`` (:class:`reward_fns.UnknownDataSource`) naming them and how to add one."""
    import reward_fns

    sources = {p.spec.data_source for p in problems if p.spec.ground_truth is not None}
    reward_fns.check_graders(sources, "the --problems files")


async def run_distill(config: DistillConfig, *, client: Any = None, progress: bool = True,
                      problems: Optional[list] = None) -> RunSummary:
    """Distil until the targets are reached or the problems run out (see the module docstring).

    Args:
        config: validated by this call.
        client: a policy client (default: ``config.teacher.client()``); closed at the end if created here.
        progress: show a tqdm bar (ETA, kept / rejected counts, tokens and cost) on stderr.
        problems: pre-loaded problems (default: :func:`load_problems` of ``config.problems``).
    """
    from verl_metaagent.rollout.grading import make_grader
    from verl_metaagent.rollout.tree_runner import TreeRunner

    config.validate()
    started = time.monotonic()
    if problems is None:
        problems, _ = load_problems(config.problems, limit=config.limit, shuffle=config.shuffle, seed=config.seed)
    _check_graders(problems)
    summary = RunSummary(problems_total=len(problems))
    own_client = client is None
    client = client or config.teacher.client()
    source = f"distill:{config.teacher.model}"
    price_in, price_out = config.teacher.price_in, config.teacher.price_out

    with Journal(os.path.join(config.out, JOURNAL_NAME), config.public_dict()) as journal:
        check_resume_config(journal.state.header, config.public_dict(), journal.path)
        state = journal.state
        counter = KeptCounter(config.export)
        for record in state.done.values():
            counter.add(record)
        todo = []
        for problem in problems:
            if problem.id in state.done:
                summary.skipped_done += 1
            elif state.errors[problem.id] >= config.max_attempts:
                summary.skipped_gave_up += 1
            else:
                todo.append(problem)

        factory = None
        try:
            from verl_metaagent.rollout.grading import code_test_runner_factory

            factory = code_test_runner_factory()
        except ImportError:  # pragma: no cover
            factory = None
        runner = TreeRunner(
            config.rollout_config(),
            client,
            make_grader(None),
            prompt_length=1 << 30,
            response_length=config.max_tokens,
            validate=False,
            logprobs=False,
            test_runner_factory=factory,  # every task type: math designs run code too, as in training
        )

        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="distill", unit="problem", file=sys.stderr, dynamic_ncols=True)
        usage_total = Counter(state.usage())

        def refresh() -> None:
            if bar is None:
                return
            t = config.export
            rejected = sum(v for k, v in counter.rejected.items())
            bar.set_postfix_str(
                f"designer {counter.kept['designer']}/{t.target_designer or '-'} "
                f"executor {counter.kept['executor']}/{t.target_executor or '-'} "
                f"rejected {rejected} errors {summary.errors} "
                f"tokens {_format_tokens(usage_total['prompt_tokens'] + usage_total['completion_tokens'])} "
                f"${usage_total['cost_usd']:.{2 if usage_total['cost_usd'] >= 1 else 4}f}",
                refresh=True,
            )

        refresh()
        queue: asyncio.Queue = asyncio.Queue()
        for problem in todo:
            queue.put_nowait(problem)

        async def worker() -> None:
            while True:
                if counter.reached(config.oversample):
                    summary.stopped_at_target = True
                    return
                try:
                    problem = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                summary.attempted += 1
                t0 = time.monotonic()
                attempt = state.errors[problem.id] + 1
                try:
                    tree = await runner.grow(problem.spec)
                    failed = _backend_errors(tree)
                    if failed:
                        raise RuntimeError(f"{len(failed)} execution(s) lost agent calls to the endpoint: {failed[0]}")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one problem's failure must not end a long run
                    message = f"{type(exc).__name__}: {exc}"[:2000]
                    journal.append({"kind": "error", "problem_id": problem.id, "attempt": attempt, "error": message})
                    summary.errors += 1
                    summary.first_error = summary.first_error or message
                    if bar is not None:
                        bar.update(1)
                    refresh()
                    continue
                found = candidates_from_tree(tree, problem_id=problem.id, short_prompt=problem.short_prompt,
                                             config=config.selection, source=source)
                usage = _tree_usage(tree, price_in, price_out)
                record = {
                    "kind": "problem",
                    "problem_id": problem.id,
                    "status": "done",
                    "data_source": problem.spec.data_source,
                    "task_type": problem.spec.task_type,
                    "attempt": attempt,
                    "designer": [s.to_dict() for s in found.designer],
                    "executor": [s.to_dict() for s in found.executor],
                    "rejected": dict(found.rejected),
                    "stats": dict(found.stats),
                    "usage": usage,
                    "seconds": round(time.monotonic() - t0, 3),
                }
                journal.append(record)
                counter.add(record)
                usage_total.update(usage)
                summary.done += 1
                if bar is not None:
                    bar.update(1)
                refresh()

        workers = [asyncio.ensure_future(worker()) for _ in range(config.max_problems_in_flight)]
        completed = False
        try:
            await asyncio.gather(*workers)
            completed = True
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if bar is not None:
                bar.close()
            usage_now = client.usage.as_dict() if hasattr(client, "usage") else {}
            journal.append({"kind": "run", "usage": usage_now, "finished": completed,
                            "seconds": round(time.monotonic() - started, 3)})
            if own_client and hasattr(client, "aclose"):
                await client.aclose()
        summary.kept = dict(counter.kept)
        summary.rejected = dict(counter.rejected)
        summary.usage = usage_now
        summary.journal_usage = dict(usage_total)
    summary.seconds = time.monotonic() - started
    return summary
