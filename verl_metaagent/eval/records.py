"""Per-attempt evaluation records and traces, stored append-only as JSON lines.

One *attempt* = one system solving one problem once (sample ``s`` of avg@k). Its key is
``(system, benchmark, problem_id, sample)``. Two files in the run folder:

* ``records.jsonl``: one small flat record per attempt (reward, answer, cost, design patterns);
  everything the metrics, table and structure analysis read. A record is the commit marker of
  its attempt: a rerun skips every key it finds here.
* ``traces.jsonl``: the attempt's whole design-execute tree (design scripts, every agent call's
  messages, rewards) for the trace viewer; written *before* the record, so a crash in between
  leaves at most a duplicate trace (readers keep the last one per key).

Every line is flushed and ``fsync``-ed. A truncated last line (a crash mid-write) is skipped
on load and the next append starts on a fresh line.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Iterable, Iterator, Optional

__all__ = ["RECORD_VERSION", "record_key", "make_record", "tree_to_dict", "JsonlStore", "RunStore", "read_jsonl"]

RECORD_VERSION = 1
#: Longest string kept in a record (answers) / a trace (messages, scripts).
MAX_RECORD_TEXT = 4000
MAX_TRACE_TEXT = 200_000


def record_key(record: dict) -> tuple:
    """``(system, benchmark, problem_id, sample)`` of a record or trace."""
    return (str(record["system"]), str(record["benchmark"]), str(record["problem_id"]), int(record["sample"]))


def _clip(text: Any, limit: int) -> Optional[str]:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def _design_summary(design) -> dict:
    from verl_metaagent.design import design_stats

    stats = design_stats(design.code) if design.code else {"num_agents": 0}
    executions = design.executions
    agents_used = sorted({c.agent for e in executions for c in e.calls})
    return {
        "pattern": design.pattern,
        "valid": bool(design.valid),
        "invalid_reason": _clip(design.invalid_reason, 500) or "",
        "designed": design.messages is not None,
        "num_agents": int(stats.get("num_agents", 0)),
        "agents_used": len(agents_used),
        "executions": len(executions),
        "calls_per_execution": (sum(len(e.calls) for e in executions) / len(executions)) if executions else 0.0,
        "reward": float(design.reward),
        "statuses": [e.status for e in executions],
    }


def make_record(*, system: str, benchmark: str, problem, sample: int, result, seconds: float,
                sc_k: Optional[int] = None) -> dict:
    """The flat record of one attempt from its :class:`~verl_metaagent.solve.SolveResult`.

    ``correct`` is ``reward >= 1`` (math graders give 0/1; code graders 1 only when every hidden
    test passes). ``llm_calls`` counts designer calls and every agent call of every execution.
    """
    tree = result.tree
    designs = tree.designs
    reward = float(result.reward) if result.reward is not None else 0.0
    prompt_tokens = sum(d.prompt_tokens + sum(e.prompt_tokens for e in d.executions) for d in designs)
    completion_tokens = sum(d.completion_tokens + sum(e.completion_tokens for e in d.executions) for d in designs)
    designer_calls = sum(1 for d in designs if d.messages is not None)
    return {
        "v": RECORD_VERSION,
        "system": system,
        "benchmark": benchmark,
        "problem_id": problem.problem_id,
        "sample": int(sample),
        "data_source": problem.spec.data_source,
        "task_type": problem.spec.task_type,
        "difficulty": problem.difficulty,
        "reward": reward,
        "correct": reward >= 1.0 - 1e-9,
        "answer": _clip(result.answer, MAX_RECORD_TEXT),
        "llm_calls": int(result.llm_calls),
        "designer_calls": designer_calls,
        "agent_calls": int(result.llm_calls) - designer_calls,
        "prompt_tokens": int(prompt_tokens),
        "completion_tokens": int(completion_tokens),
        "tokens": int(prompt_tokens + completion_tokens),
        "seconds": round(float(seconds), 3),
        "sc_k": sc_k,
        "designs": [_design_summary(d) for d in designs],
    }


def _messages(messages: Optional[Iterable[dict]]) -> Optional[list[dict]]:
    if messages is None:
        return None
    return [{"role": str(m.get("role", "")), "content": _clip(m.get("content", ""), MAX_TRACE_TEXT) or ""}
            for m in messages]


def tree_to_dict(tree, *, ground_truth_limit: int = 2000) -> dict:
    """JSON form of a :class:`~verl_metaagent.rollout.tree_runner.ProblemTree` for the trace viewer.

    Keeps the designer's text and script, every execution's status, answer, reward and agent calls
    (messages incl. the final reply). Hidden code tests are not kept (only math ground truths).
    """
    problem = tree.problem
    return {
        "question": _clip(problem.question, MAX_TRACE_TEXT),
        "task_type": problem.task_type,
        "data_source": problem.data_source,
        "ground_truth": _clip(problem.ground_truth, ground_truth_limit) if problem.task_type != "code" else None,
        "validation_answer": _clip(tree.validation_answer, MAX_TRACE_TEXT),
        "validation_reward": tree.validation_reward,
        "designs": [
            {
                "j": d.j,
                "designed": d.messages is not None,
                "designer_messages": _messages(d.messages),
                "text": _clip(d.text, MAX_TRACE_TEXT),
                "code": _clip(d.code, MAX_TRACE_TEXT),
                "valid": bool(d.valid),
                "invalid_reason": _clip(d.invalid_reason, 4000),
                "pattern": d.pattern,
                "reward": float(d.reward),
                "prompt_tokens": d.prompt_tokens,
                "completion_tokens": d.completion_tokens,
                "executions": [
                    {
                        "k": e.k,
                        "status": e.status,
                        "reason": _clip(e.reason, 4000),
                        "final_answer": _clip(e.final_answer, MAX_TRACE_TEXT),
                        "reward": float(e.reward),
                        "seconds": round(float(e.seconds), 3),
                        "prompt_tokens": e.prompt_tokens,
                        "completion_tokens": e.completion_tokens,
                        "calls": [
                            {"agent": c.agent, "messages": _messages(c.messages) or [],
                             "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}
                            for c in e.calls
                        ],
                    }
                    for e in d.executions
                ],
            }
            for d in tree.designs
        ],
    }


def read_jsonl(path: str) -> Iterator[dict]:
    """The JSON objects of ``path`` (missing file = none); malformed lines (a crash mid-write) are skipped."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                yield value


class JsonlStore:
    """Append-only JSON-lines file: one ``write`` = one line, flushed and fsync-ed (thread-safe)."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()

    def write(self, obj: dict) -> None:
        line = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str)
        with self._lock:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            with open(self.path, "a+b") as fh:
                fh.seek(0, os.SEEK_END)
                if fh.tell() > 0:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":  # a previous crash left half a line: start a new one
                        fh.write(b"\n")
                fh.write(line.encode("utf-8") + b"\n")
                fh.flush()
                os.fsync(fh.fileno())

    def read(self) -> list[dict]:
        return list(read_jsonl(self.path))


class RunStore:
    """The files of one evaluation run folder: records, traces, errors and settings."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.records = JsonlStore(os.path.join(out_dir, "records.jsonl"))
        self.traces = JsonlStore(os.path.join(out_dir, "traces.jsonl"))
        self.errors = JsonlStore(os.path.join(out_dir, "errors.jsonl"))
        self.settings_path = os.path.join(out_dir, "settings.json")

    def load_records(self) -> list[dict]:
        """Valid records, the first one per key (a duplicate never counts twice)."""
        seen: dict[tuple, dict] = {}
        for rec in self.records.read():
            try:
                key = record_key(rec)
            except (KeyError, TypeError, ValueError):
                continue
            seen.setdefault(key, rec)
        return list(seen.values())

    def load_traces(self) -> dict[tuple, dict]:
        """Traces by key (the last one written wins)."""
        out: dict[tuple, dict] = {}
        for trace in self.traces.read():
            try:
                out[record_key(trace)] = trace
            except (KeyError, TypeError, ValueError):
                continue
        return out

    def add(self, record: dict, trace: Optional[dict]) -> None:
        """Store one finished attempt: its trace first, then its record (the commit marker)."""
        if trace is not None:
            self.traces.write(trace)
        self.records.write(record)
