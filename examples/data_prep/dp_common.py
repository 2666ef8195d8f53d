"""Shared logic of the data preparation scripts: load, dedupe, filter, build verl rows, write parquet.

Every script turns one source dataset into verl's parquet rows::

    {
      "data_source": "math/polaris" | "code/apps" | ...,   # docs/architecture.md, reward_fns registry
      "prompt": [{"role": "user", "content": ...}],        # a self-contained single-agent prompt
      "ability": "math" | "code",
      "reward_model": {"style": "rule", "ground_truth": ...},
      "extra_info": {"index", "split", "question", "task_type", "source_id", "difficulty",
                     "public_tests", "starter_code"},
    }

``extra_info`` has the same keys (all strings except ``index``) on every row, math or code, so
math and code parquet files can be concatenated into one mixed file without schema conflicts.
Math rows carry ``public_tests=""`` and ``starter_code=""``.

Sources: a Hugging Face dataset (``datasets.load_dataset``; needs a cache or network) or a local
``.json`` / ``.jsonl`` / ``.parquet`` file in the source dataset's own schema (always works offline).
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
EXTRA_INFO_KEYS = ("index", "split", "question", "task_type", "source_id", "difficulty", "public_tests", "starter_code")


class DataPrepError(RuntimeError):
    """A data preparation step failed; the message says what to change."""


# --------------------------------------------------------------------------------------------- loading


def plain(value: Any) -> Any:
    """Numpy arrays / pandas containers (what parquet readers return for nested columns) as lists/dicts."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy always ships with pandas
        np = None
    if np is not None and isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if np is not None and isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def read_local(path: str) -> list[dict]:
    """Rows of a local ``.json`` (a list, or a dict holding one list), ``.jsonl`` or ``.parquet`` file."""
    if not os.path.exists(path):
        raise DataPrepError(
            f"--input {path!r} does not exist. Pass a .json, .jsonl or .parquet file in the source dataset's schema.")
    lower = path.lower()
    if lower.endswith(".parquet"):
        import pandas as pd

        return [plain(r) for r in pd.read_parquet(path).to_dict(orient="records")]
    if lower.endswith(".jsonl"):
        rows = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataPrepError(f"{path}:{n}: not valid JSON ({exc}). "
                                        "Each line of a .jsonl file must be one JSON object.") from exc
        return rows
    if lower.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise DataPrepError(f"{path}: a .json file must hold a list of rows (or a dict with exactly one list).")
            data = lists[0]
        if not isinstance(data, list):
            raise DataPrepError(f"{path}: a .json file must hold a list of rows.")
        return data
    raise DataPrepError(f"--input {path!r}: unsupported extension; use .json, .jsonl or .parquet.")


def load_hf(repo: str, *, config: Optional[str] = None, split: str = "train", data_files: Any = None) -> list[dict]:
    """Rows of a Hugging Face dataset split (``datasets.load_dataset``).

    ``data_files`` loads raw files of the repo with the ``json`` builder instead (e.g.
    ``hf://datasets/codeparrot/apps/test.jsonl``), for repos whose loading script newer
    ``datasets`` versions refuse to run.

    Raises:
        DataPrepError: when ``datasets`` is missing or the dataset is neither cached nor reachable,
            naming the local-file alternative.
    """
    where = f"{repo}" + (f" (config {config})" if config else "") + f" split {split}"
    try:
        import datasets
    except ImportError as exc:
        raise DataPrepError(f"Loading {where} needs the `datasets` package (pip install datasets), "
                            "or pass --input <local file>.") from exc
    try:
        if data_files is not None:
            ds = datasets.load_dataset("json", data_files=data_files, split="train")
        else:
            ds = datasets.load_dataset(repo, config, split=split)
    except Exception as exc:  # offline, gated, renamed: all end the same way for the user
        raise DataPrepError(
            f"Could not load the Hugging Face dataset {where}: {type(exc).__name__}: {exc}. "
            f"Without network access the dataset must be in the local HF cache (HF_DATASETS_OFFLINE=1 uses it); "
            f"otherwise download it elsewhere and pass --input /path/to/file.(jsonl|json|parquet) in the same schema."
        ) from exc
    return [plain(dict(r)) for r in ds]


def load_rows(input_path: Optional[str], hf: Callable[[], list[dict]]) -> list[dict]:
    """Local file if ``input_path`` is given, else the Hugging Face loader ``hf``."""
    return read_local(input_path) if input_path else hf()


def pick(row: dict, *names: str, default: Any = None) -> Any:
    """The first present, non-empty column among ``names`` (case-insensitive), else ``default``."""
    lowered = {str(k).lower(): v for k, v in row.items()}
    for name in names:
        for key in (name, name.lower()):
            value = row.get(key, lowered.get(key.lower()))
            if value is not None and value != "" and value != []:
                return value
    return default


# --------------------------------------------------------------------------------------------- rows


def normalize_question(text: str) -> str:
    """Key for deduplication: lower-case, whitespace collapsed."""
    return re.sub(r"\s+", " ", str(text or "")).strip().lower()


def make_row(
    *,
    data_source: str,
    ability: str,
    prompt_text: str,
    ground_truth: str,
    question: str,
    split: str,
    source_id: Any = "",
    difficulty: Any = "",
    public_tests: str = "",
    starter_code: str = "",
) -> dict:
    """One verl row (``index`` is assigned by :meth:`Report.finish`)."""
    if ability not in ("math", "code"):
        raise ValueError(f"ability must be 'math' or 'code', got {ability!r}")
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": prompt_text}],
        "ability": ability,
        "reward_model": {"style": "rule", "ground_truth": str(ground_truth)},
        "extra_info": {
            "index": -1,
            "split": split,
            "question": question,
            "task_type": ability,
            "source_id": "" if source_id is None else str(source_id),
            "difficulty": "" if difficulty is None else str(difficulty),
            "public_tests": public_tests or "",
            "starter_code": starter_code or "",
        },
    }


@dataclass
class Report:
    """Counts of one conversion: rows read, dropped per reason, kept. Printed at the end."""

    name: str
    read: int = 0
    dropped: dict = field(default_factory=dict)
    kept: int = 0

    def drop(self, reason: str) -> None:
        """Count one dropped source row under ``reason``."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def summary(self) -> str:
        parts = [f"{self.name}: read {self.read}"]
        parts += [f"dropped {n} ({reason})" for reason, n in sorted(self.dropped.items())]
        parts.append(f"kept {self.kept}")
        return ", ".join(parts)


def convert(
    source_rows: Iterable[dict],
    to_row: Callable[[dict, Report], Optional[dict]],
    report: Report,
    *,
    exclude_questions: Optional[set] = None,
    limit: int = 0,
    seed: int = 0,
) -> list[dict]:
    """Apply ``to_row`` (returns None after ``report.drop(reason)`` for unusable rows), dedupe by
    question, drop rows whose question is in ``exclude_questions`` (decontamination), optionally
    keep a seeded random subset of ``limit`` rows (in source order), and number them (``index``)."""
    rows, seen = [], set()
    exclude_questions = exclude_questions or set()
    for src in source_rows:
        report.read += 1
        row = to_row(src, report)
        if row is None:
            continue
        key = normalize_question(row["extra_info"]["question"])
        if key in seen:
            report.drop("duplicate question")
            continue
        if key in exclude_questions:
            report.drop("question in --exclude file")
            continue
        seen.add(key)
        rows.append(row)
    if limit and len(rows) > limit:
        keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
        report.dropped[f"not in seeded subset (--limit {limit}, --seed {seed})"] = len(rows) - limit
        rows = [rows[i] for i in keep]
    for i, row in enumerate(rows):
        row["extra_info"]["index"] = i
    report.kept = len(rows)
    return rows


def questions_of(paths: Iterable[str]) -> set:
    """Normalised ``extra_info.question`` of every row of our parquet files (for ``--exclude``)."""
    import pandas as pd

    out = set()
    for path in paths:
        for info in pd.read_parquet(path, columns=["extra_info"])["extra_info"]:
            out.add(normalize_question(plain(info).get("question", "")))
    return out


def write_parquet(rows: list[dict], path: str) -> str:
    """Write rows as parquet (directories created). Refuses to write an empty file."""
    if not rows:
        raise DataPrepError(f"No usable rows to write to {path}; see the drop counts above.")
    import pandas as pd

    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


# --------------------------------------------------------------------------------------------- code tests


def tests_json(inputs: list, outputs: list, fn_name: Optional[str] = None) -> str:
    """The code ground-truth JSON string reward_fns grades: ``{"inputs", "outputs", "fn_name"?}``."""
    data: dict = {"inputs": list(inputs), "outputs": list(outputs)}
    if fn_name:
        data["fn_name"] = fn_name
    return json.dumps(data, ensure_ascii=False)


def code_prompt(question: str, *, starter_code: str = "", fn_name: Optional[str] = None,
                call_style: str = "function") -> str:
    """Single-agent prompt for a code task (stdin/stdout program, or a function / ``class Solution`` method)."""
    text = question.strip()
    if starter_code.strip():
        text += "\n\nComplete the following starter code:\n```python\n" + starter_code.rstrip() + "\n```"
    if fn_name:
        where = "a method of `class Solution`" if call_style == "method" else "a function"
        text += f"\n\nYour code is tested by calling `{fn_name}` ({where}) directly; do not read stdin."
    else:
        text += "\n\nRead the input from standard input and write the answer to standard output."
    text += "\n\nWrite a complete Python 3 solution in a single ```python code block."
    return text


# --------------------------------------------------------------------------------------------- CLI helpers


def add_common_args(parser) -> None:
    """Arguments every script takes."""
    parser.add_argument("--input",
                        help="local .json/.jsonl/.parquet in the source schema (default: load from Hugging Face)")
    parser.add_argument("--output", required=True, help="parquet file to write")
    parser.add_argument("--split", default=None, help="source split (default depends on the dataset)")
    parser.add_argument("--limit", type=int, default=0, help="keep a seeded random subset of this many rows (0 = all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --limit's subset")
    parser.add_argument("--exclude", nargs="*", default=[],
                        help="our parquet files whose questions must not appear (decontamination)")


def finish(rows: list[dict], report: Report, output: str) -> None:
    """Write and print the report line (stderr keeps stdout clean for pipes)."""
    write_parquet(rows, output)
    print(report.summary() + f" -> {output}", file=sys.stderr)


def convert_and_write(args, rows: list[dict], row_fn: Callable[[dict, Report], Optional[dict]], report: Report) -> int:
    """The tail of every script's ``main``: convert with the common flags (``--exclude``, ``--limit``,
    ``--seed``), write ``--output`` and print the report; returns the exit code."""
    out = convert(rows, row_fn, report, exclude_questions=questions_of(args.exclude), limit=args.limit, seed=args.seed)
    finish(out, report, args.output)
    return 0

