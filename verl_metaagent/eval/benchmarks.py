"""The six test benchmarks and loading their verl parquet rows as evaluation problems.

Rows are the ones ``examples/data_prep`` writes (``data_source``, ``prompt``, ``reward_model``,
``extra_info``; docs/recipes.md "Row format"); ``.parquet``, ``.jsonl`` and ``.json`` (a list of
rows) files are read. Every row is untrusted input: a row without a task text, data source or
ground truth stops the load with an error naming the file and the row.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from verl_metaagent.rollout.tree_runner import ProblemSpec

__all__ = ["Benchmark", "BENCHMARKS", "EvalProblem", "benchmark_info", "load_problems", "resolve_benchmarks"]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: short ``name`` (CLI and records), table ``label``, ``data_source`` (grader),
    ``task_type`` and the file name ``examples/data_prep/prepare_paper_data.sh`` writes under ``<data>/test/``."""

    name: str
    label: str
    data_source: str
    task_type: str
    filename: str


#: The paper's six test benchmarks, in the paper's column order.
BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("aime24", "AIME24", "math/aime24", "math", "aime24.parquet"),
        Benchmark("aime25", "AIME25", "math/aime25", "math", "aime25.parquet"),
        Benchmark("olympiadbench", "OlympiadBench", "math/olympiadbench", "math", "olympiadbench.parquet"),
        Benchmark("apps", "APPS", "code/apps", "code", "apps_test.parquet"),
        Benchmark("livecodebench_v6", "LiveCodeBench-v6", "code/livecodebench_v6", "code", "livecodebench_v6.parquet"),
        Benchmark("codecontests", "CodeContests", "code/codecontests", "code", "codecontests_test.parquet"),
    )
}


def benchmark_info(name: str) -> Benchmark:
    """The :class:`Benchmark` for ``name``; unknown names are custom benchmarks labelled by their name."""
    return BENCHMARKS.get(name) or Benchmark(name, name, "", "", "")


def benchmark_order(names: Sequence[str]) -> list[str]:
    """``names`` in the paper's column order, custom benchmarks after the six, alphabetically."""
    known = [b for b in BENCHMARKS if b in names]
    return known + sorted(n for n in set(names) if n not in BENCHMARKS)


@dataclass
class EvalProblem:
    """One problem of a benchmark: ``problem_id`` (unique within the benchmark), the
    :class:`~verl_metaagent.rollout.tree_runner.ProblemSpec` the solver needs, and the dataset's
    own ``difficulty`` label when it has one (APPS: introductory / interview / competition)."""

    benchmark: str
    problem_id: str
    spec: ProblemSpec
    difficulty: Optional[str] = None


def _valid_name(name: str) -> bool:
    return bool(name) and all(ch.isalnum() or ch in "_-." for ch in name) and not name.startswith(".")


def resolve_benchmarks(specs: Sequence[str] = (), data_dir: Optional[str] = None) -> list[tuple[str, str]]:
    """``[(name, path)]`` from ``--benchmark`` specs and/or ``--data-dir``.

    A spec is ``name=path`` (any file, custom names allowed) or a known ``name`` (its file under
    ``data_dir``). With no specs, every known benchmark whose file exists under ``data_dir`` is used.
    Raises ``ValueError`` naming the flag and the fix.
    """
    out: list[tuple[str, str]] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        name = name.strip()
        if not _valid_name(name):
            raise ValueError(f"--benchmark {spec!r}: the name must be letters, digits, '_', '-' or '.' "
                             "(e.g. --benchmark aime24=data/test/aime24.parquet)")
        if not sep:
            if name not in BENCHMARKS:
                raise ValueError(f"--benchmark {name!r} is not one of {list(BENCHMARKS)}; "
                                 f"give a file for a custom benchmark: --benchmark {name}=path.parquet")
            if not data_dir:
                raise ValueError(
                    f"--benchmark {name} without a file needs --data-dir (the folder with {BENCHMARKS[name].filename})")
            path = os.path.join(data_dir, BENCHMARKS[name].filename)
        if not os.path.isfile(path):
            raise ValueError(f"--benchmark {name}: file {path!r} does not exist "
                             "(prepare it with examples/data_prep/prepare_paper_data.sh)")
        if any(n == name for n, _ in out):
            raise ValueError(f"--benchmark {name} is given twice")
        out.append((name, path))
    if not specs:
        if not data_dir:
            raise ValueError(
                "no benchmarks: pass --data-dir <folder with the test parquet files> or --benchmark name=path")
        if not os.path.isdir(data_dir):
            raise ValueError(f"--data-dir {data_dir!r} is not a folder")
        out = [(b.name, os.path.join(data_dir, b.filename)) for b in BENCHMARKS.values()
               if os.path.isfile(os.path.join(data_dir, b.filename))]
        if not out:
            raise ValueError(f"--data-dir {data_dir!r} holds none of {[b.filename for b in BENCHMARKS.values()]}; "
                             "run examples/data_prep/prepare_paper_data.sh or pass --benchmark name=path")
    return out


def read_rows(path: str) -> list[dict]:
    """The rows of a ``.parquet`` / ``.jsonl`` / ``.json`` file as plain dicts."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    if lower.endswith(".jsonl"):
        rows = []
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{n}: not a JSON line ({exc.msg})") from None
        return rows
    if lower.endswith(".json"):
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, list):
            raise ValueError(f"{path}: a .json benchmark file must hold a list of rows")
        return data
    raise ValueError(f"{path}: unsupported file type (use .parquet, .jsonl or .json rows from examples/data_prep)")


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def load_problems(name: str, path: str, *, limit: Optional[int] = None) -> list[EvalProblem]:
    """Load benchmark ``name`` from ``path``: the first ``limit`` rows (all when ``None``).

    Problem ids are ``extra_info.source_id`` when every row has a distinct one, else
    ``extra_info.index``, else the row number.
    """
    from verl_metaagent.rollout.problems import problem_from_fields

    rows = read_rows(path)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be >= 1, got {limit}")
        rows = rows[:limit]
    if not rows:
        raise ValueError(f"{path}: no rows")
    info = BENCHMARKS.get(name)
    extras = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: row {i} is not a mapping of fields")
        extra = _plain(row.get("extra_info")) or {}
        extras.append(extra if isinstance(extra, dict) else {})
    ids = _problem_ids(extras)
    problems = []
    for i, (row, extra, pid) in enumerate(zip(rows, extras, ids)):
        fields = {
            "raw_prompt": _plain(row.get("prompt")),
            "data_source": row.get("data_source") or (info.data_source if info else None),
            "ability": row.get("ability"),
            "reward_model": _plain(row.get("reward_model")),
            "extra_info": extra,
        }
        if not fields["data_source"]:
            raise ValueError(f"{path}: row {i} has no data_source (needed to pick its grader)")
        try:
            spec = problem_from_fields(fields, uid=f"{name}/{pid}", problem_index=i)
        except ValueError as exc:
            raise ValueError(f"{path}: row {i} (id {pid}): {exc}") from None
        if spec.ground_truth is None or spec.ground_truth == "":
            raise ValueError(f"{path}: row {i} (id {pid}) has no reward_model.ground_truth; it cannot be graded")
        difficulty = extra.get("difficulty")
        problems.append(EvalProblem(name, pid, spec, str(difficulty) if difficulty not in (None, "") else None))
    return problems


def _problem_ids(extras: list[dict]) -> list[str]:
    for key in ("source_id", "index"):
        values = [e.get(key) for e in extras]
        if all(v not in (None, "") for v in values):
            ids = [str(v) for v in values]
            if len(set(ids)) == len(ids):
                return ids
    return [str(i) for i in range(len(extras))]
