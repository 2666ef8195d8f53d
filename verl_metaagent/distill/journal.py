"""The distillation journal: an append-only, fsync'd JSONL file; the only state of a run.

One line per event, written with a single ``write`` + ``flush`` + ``fsync`` before the run moves on:

* ``{"kind": "header", "version": 1, "created": ..., "config": {...}}`` -- first line;
* ``{"kind": "problem", "problem_id", "status": "done", "designer": [...], "executor": [...],
  "rejected": {...}, "stats": {...}, "usage": {...}, "seconds"}`` -- a finished problem with all
  its candidate samples (selection happens at export, so thresholds can change without re-asking
  the teacher);
* ``{"kind": "error", "problem_id", "attempt", "error"}`` -- a problem that failed (endpoint gave
  up, crash); it is retried on the next run until ``max_attempts`` errors;
* ``{"kind": "run", "usage": {...}, "finished": bool}`` -- a run's endpoint totals at its end.

A kill can only leave a torn *last* line (no trailing newline): :class:`Journal` drops it when it
opens the file, so the problem is simply redone. A bad line anywhere else is corruption and is
reported with its line number. An exclusive ``flock`` keeps two runs from writing one journal.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

__all__ = ["JournalError", "Journal", "JournalState", "read_journal", "JOURNAL_VERSION"]

JOURNAL_VERSION = 1


class JournalError(RuntimeError):
    """The journal is corrupt, from another version, or locked by another run."""


@dataclass
class JournalState:
    """What a journal holds, folded over its lines.

    Attributes:
        header: the first line's content (``None`` for an empty journal).
        done: problem_id -> its ``problem`` record (the first one, should a problem appear twice).
        errors: problem_id -> number of ``error`` records.
        runs: the ``run`` records.
        torn_tail: bytes of an incomplete last line that were ignored.
    """

    header: Optional[dict] = None
    done: dict = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    runs: list = field(default_factory=list)
    torn_tail: int = 0
    duplicate_done: int = 0

    def samples(self, role: Optional[str] = None) -> Iterator[dict]:
        """Every candidate sample dict of the done problems (journal order), optionally of one role."""
        for record in self.done.values():
            for r in ("designer", "executor"):
                if role is None or role == r:
                    yield from record.get(r, [])

    def usage(self) -> dict:
        """Token / call / cost totals over the done problems' trees (what the kept work cost)."""
        total: Counter = Counter()
        for record in self.done.values():
            for k, v in (record.get("usage") or {}).items():
                if isinstance(v, (int, float)):
                    total[k] += v
        return dict(total)

    def rejected(self) -> Counter:
        """Rejections by reason over the done problems."""
        total: Counter = Counter()
        for record in self.done.values():
            total.update(record.get("rejected") or {})
        return total


def _fold(state: JournalState, record: Any, where: str) -> None:
    if not isinstance(record, dict) or "kind" not in record:
        raise JournalError(f"{where}: not a journal record (expected a JSON object with 'kind')")
    kind = record["kind"]
    if kind == "header":
        if state.header is None:
            version = record.get("version")
            if version != JOURNAL_VERSION:
                raise JournalError(f"{where}: journal version {version!r}, this code reads version {JOURNAL_VERSION}; "
                                   "start a new --out folder")
            state.header = record
    elif kind == "problem":
        pid = record.get("problem_id")
        if not isinstance(pid, str):
            raise JournalError(f"{where}: problem record without a problem_id")
        if pid in state.done:
            state.duplicate_done += 1
        else:
            state.done[pid] = record
    elif kind == "error":
        state.errors[str(record.get("problem_id"))] += 1
    elif kind == "run":
        state.runs.append(record)
    else:
        raise JournalError(f"{where}: unknown record kind {kind!r}")


def read_journal(path: str) -> JournalState:
    """Fold a journal file (read-only; a torn last line is ignored and counted in ``torn_tail``).

    Raises:
        FileNotFoundError: no journal at ``path``.
        JournalError: a bad line before the last one (corruption), or a version mismatch.
    """
    state = JournalState()
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    if tail:
        state.torn_tail = len(tail)
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise JournalError(
                f"{path}:{lineno}: corrupt line ({exc}); only the last line can be torn by a kill. "
                f"Remove line {lineno} by hand to redo that problem, or start a new --out folder"
            ) from None
        _fold(state, record, f"{path}:{lineno}")
    if state.torn_tail:
        try:  # a complete record that only lacks its newline still counts
            record = json.loads(tail)
        except ValueError:
            pass
        else:
            _fold(state, record, f"{path}:{len(lines) + 1}")
            state.torn_tail = 0
    return state


class Journal:
    """Append-only writer over a journal file (see the module docstring).

    ``with Journal(path, config) as journal:`` takes the lock, repairs a torn tail, writes the
    header if the file is new, and exposes the folded :attr:`state`.
    """

    def __init__(self, path: str, config: Optional[dict] = None):
        self.path = path
        self.config = dict(config or {})
        self._fd: Optional[int] = None
        self.state = JournalState()

    def __enter__(self) -> "Journal":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Lock, repair a torn tail, fold the existing lines, write the header of a new journal."""
        import fcntl

        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise JournalError(
                f"{self.path} is locked by another distill run; wait for it or use another --out folder") from None
        self._fd = fd
        try:
            self.state = read_journal(self.path)
            if self.state.torn_tail:
                size = os.fstat(fd).st_size
                os.ftruncate(fd, size - self.state.torn_tail)
                os.fsync(fd)
            if self.state.header is None:
                if os.fstat(fd).st_size:
                    raise JournalError(f"{self.path}: has records but no header line; start a new --out folder")
                self.append(
                    {"kind": "header", "version": JOURNAL_VERSION, "created": time.time(), "config": self.config})
                self.state.header = {"config": self.config}
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the lock and close the file."""
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def append(self, record: dict) -> None:
        """Write one record as one line and fsync it; also fold it into :attr:`state`."""
        if self._fd is None:
            raise JournalError("journal is not open")
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)
        if record.get("kind") != "header":
            _fold(self.state, record, self.path)
