"""Journal (+ imported samples) -> the final SFT data in verl's multi-turn parquet format.

Output folder::

    designer.parquet   executor.parquet   stats.json   [designer.jsonl executor.jsonl  (ShareGPT, --sharegpt)]

Each parquet row has verl's ``messages`` column (``data.messages_key``; a list of
``{"role", "content"}``, every assistant turn trained by ``MultiTurnSFTDataset``) plus metadata
columns verl ignores: ``id``, ``role``, ``problem_id``, ``data_source``, ``task_type``,
``pattern``, ``reward``, ``agent``, ``source``. Files are written to a temporary name and
renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from verl_metaagent.distill.journal import read_journal
from verl_metaagent.distill.records import SampleError, SFTSample
from verl_metaagent.distill.select import select

__all__ = ["ExportConfig", "ExportReport", "write_sft_parquet", "read_sft_parquet", "export", "JOURNAL_NAME"]

#: The journal's file name inside the output folder.
JOURNAL_NAME = "journal.jsonl"

_META = ("id", "role", "problem_id", "data_source", "task_type", "pattern", "reward", "agent", "source")


@dataclass
class ExportConfig:
    """How the final set is drawn from the candidates.

    Attributes:
        target_designer / target_executor: samples per role (paper: 3K / 8K); 0 = all candidates.
        designer_per_problem / executor_per_problem: at most this many samples of one problem per
            role (best reward first; 0 = no cap), so easy problems do not dominate.
        seed: seed of the pattern-balanced pick.
        sharegpt: also write release-style ShareGPT JSONL files.
        sharegpt_system_prompt: system turn added to ShareGPT records that have none.
    """

    target_designer: int = 3000
    target_executor: int = 8000
    designer_per_problem: int = 2
    executor_per_problem: int = 8
    seed: int = 0
    sharegpt: bool = False
    sharegpt_system_prompt: Optional[str] = None

    def validate(self) -> "ExportConfig":
        for name in ("target_designer", "target_executor", "designer_per_problem", "executor_per_problem"):
            if getattr(self, name) < 0:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be >= 0 (0 = no limit), got {getattr(self, name)}")
        return self


@dataclass
class ExportReport:
    """Counts of one export (also written to ``stats.json``)."""

    designer: Counter = field(default_factory=Counter)
    executor: Counter = field(default_factory=Counter)
    patterns: dict = field(default_factory=dict)
    bad_journal_samples: int = 0
    problems_done: int = 0
    problems_failed: int = 0
    usage: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "designer": dict(self.designer),
            "executor": dict(self.executor),
            "patterns": self.patterns,
            "bad_journal_samples": self.bad_journal_samples,
            "problems_done": self.problems_done,
            "problems_failed": self.problems_failed,
            "usage": self.usage,
            "files": self.files,
        }


def write_sft_parquet(samples: Sequence[SFTSample], path: str) -> int:
    """Write samples as verl multi-turn SFT parquet (``messages`` + metadata columns); returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    message_type = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    columns = {"messages": pa.array([s.messages for s in samples], type=message_type)}
    for name in _META:
        typ = pa.float64() if name == "reward" else pa.string()
        columns[name] = pa.array([getattr(s, name) for s in samples], type=typ)
    table = pa.table(columns)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return table.num_rows


def read_sft_parquet(path: str, *, messages_key: str = "messages") -> list[SFTSample]:
    """Read an SFT parquet (ours, or any verl multi-turn parquet with a ``messages`` column).

    Rows without our metadata get ids ``<file>:<row>`` and a role guessed like ShareGPT records.

    Raises:
        SampleError: a row's chat is malformed (names the file and row).
        ValueError: no ``messages_key`` column.
    """
    import pandas as pd

    from verl_metaagent.distill.sharegpt import _is_designer

    frame = pd.read_parquet(path)
    if messages_key not in frame.columns:
        raise ValueError(
            f"{path}: no {messages_key!r} column (columns: {', '.join(frame.columns)}); pass the right --messages-key")
    out = []
    base = os.path.basename(path)
    for i, row in enumerate(frame.to_dict("records")):
        messages = row[messages_key]
        messages = [dict(m) for m in (messages.tolist() if hasattr(messages, "tolist") else messages)]
        data = {k: row[k] for k in _META if k in row and row[k] is not None}
        data.setdefault("id", f"{base}:{i}")
        data.setdefault("role", "designer" if _is_designer(str(data["id"]), messages) else "executor")
        data["messages"] = messages
        out.append(SFTSample.from_dict(data, where=f"{path} row {i}"))
    return out


def export(out_dir: str, config: ExportConfig, *, extra: Iterable[SFTSample] = (),
           journal_path: Optional[str] = None) -> ExportReport:
    """Select and write the final data from the journal in ``out_dir`` plus ``extra`` samples.

    Journal samples come first (journal order), then ``extra``; duplicates keep the first.
    A missing journal is fine when ``extra`` is given (pure ShareGPT conversion).
    """
    config.validate()
    report = ExportReport()
    samples: list[SFTSample] = []
    journal_path = journal_path or os.path.join(out_dir, JOURNAL_NAME)
    if os.path.exists(journal_path):
        state = read_journal(journal_path)
        report.problems_done = len(state.done)
        report.problems_failed = sum(1 for pid in state.errors if pid not in state.done)
        report.usage = {"journaled_problems": state.usage(), "runs": [r.get("usage", {}) for r in state.runs]}
        for data in state.samples():
            try:
                samples.append(SFTSample.from_dict(data, where=f"{journal_path} sample {data.get('id')!r}"))
            except SampleError:
                report.bad_journal_samples += 1
    samples.extend(extra)
    designer, report.designer = select(samples, role="designer", target=config.target_designer,
                                       per_problem=config.designer_per_problem, seed=config.seed)
    executor, report.executor = select(samples, role="executor", target=config.target_executor,
                                       per_problem=config.executor_per_problem, seed=config.seed)
    report.patterns = {
        "designer": dict(Counter(s.pattern or "unknown" for s in designer)),
        "executor": dict(Counter(s.pattern or "unknown" for s in executor)),
    }
    os.makedirs(out_dir, exist_ok=True)
    for name, chosen in (("designer", designer), ("executor", executor)):
        path = os.path.join(out_dir, f"{name}.parquet")
        write_sft_parquet(chosen, path)
        report.files[name] = path
        if config.sharegpt:
            from verl_metaagent.distill.sharegpt import write_sharegpt

            jpath = os.path.join(out_dir, f"{name}.jsonl")
            write_sharegpt(chosen, jpath, system_prompt=config.sharegpt_system_prompt)
            report.files[f"{name}_sharegpt"] = jpath
    stats_path = os.path.join(out_dir, "stats.json")
    tmp = f"{stats_path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report.as_dict(), f, indent=2, sort_keys=True)
    os.replace(tmp, stats_path)
    report.files["stats"] = stats_path
    return report
