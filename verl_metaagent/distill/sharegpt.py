"""Read and write the public MetaAgent-X release's ShareGPT-style cold-start records.

One record per line (``.jsonl``), or a JSON list of records or a single record (``.json``)::

    {"id": "designer_20251226_173908_013322",
     "conversations": [{"from": "system", "value": "You are an expert ..."},
                       {"from": "user", "value": "Design Multi Agent System for the Question: ..."},
                       {"from": "assistant", "value": "<think>...</think>\\n<code>\\n```python\\n...```\\n</code>"}]}

Reading accepts ``from``/``value`` or ``role``/``content`` turns and the ShareGPT role names
``human``/``gpt`` too. A record is a *designer* sample when its id starts with ``designer`` or its
first user turn starts with the release's designer wording; otherwise an *executor* sample.
Designer answers are checked: the script must parse and (by default) pass our static validator,
since a model trained on designs our sandbox refuses (``open(...)``, ``import subprocess``) would
only learn to write invalid designs. The release's own boilerplate (``import os``, ``import sys``,
``from utils.environments.math_env import MathEnvironment``) is valid in the workflow dialect. Bad records are
skipped and counted with their reason; the file itself must be readable JSON(L) or :class:`ShareGPTError`
names the line.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from verl_metaagent.distill.records import SampleError, SFTSample, split_designer_answer

__all__ = ["ShareGPTError", "ImportReport", "read_sharegpt", "write_sharegpt", "sample_to_record", "record_to_sample",
           "DESIGNER_PREFIX"]

#: The release's (and our ``short`` prompt's) designer wording.
DESIGNER_PREFIX = "Design Multi Agent System for the Question:"

_FROM = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
         "model": "assistant"}


class ShareGPTError(ValueError):
    """The file is not readable as ShareGPT JSON / JSONL (the message names the line and the fix)."""


@dataclass
class ImportReport:
    """What :func:`read_sharegpt` did: records read, samples kept per role, skipped records by reason."""

    path: str
    read: int = 0
    kept: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)  # reason -> first record id / line with it

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, where)

    def summary(self) -> str:
        """One line, e.g. ``f.jsonl: read 5, kept designer 2 executor 2, skipped 1 (invalid design: ...)``."""
        kept = " ".join(f"{k} {v}" for k, v in sorted(self.kept.items())) or "nothing"
        skipped = ", ".join(f"{v} ({k}; e.g. {self.examples[k]})" for k, v in self.skipped.most_common())
        return f"{self.path}: read {self.read}, kept {kept}" + (f", skipped {skipped}" if skipped else "")


def _turns_to_messages(conversations: Any, where: str) -> list[dict]:
    if hasattr(conversations, "tolist"):
        conversations = conversations.tolist()
    if not isinstance(conversations, list) or not conversations:
        raise SampleError(f"{where}: 'conversations' must be a non-empty list")
    out = []
    for i, turn in enumerate(conversations):
        if not isinstance(turn, dict):
            raise SampleError(f"{where}: conversations[{i}] is a {type(turn).__name__}, expected a dict")
        who = turn.get("from", turn.get("role"))
        text = turn.get("value", turn.get("content"))
        role = _FROM.get(str(who).lower()) if who is not None else None
        if role is None:
            raise SampleError(f"{where}: conversations[{i}] has from={who!r}; use system, user/human or assistant/gpt")
        out.append({"role": role, "content": text})
    return out


def _is_designer(record_id: str, messages: list[dict]) -> bool:
    if record_id.lower().startswith("designer"):
        return True
    first_user = next((m["content"] for m in messages if m["role"] == "user"), "")
    return isinstance(first_user, str) and first_user.lstrip().startswith(DESIGNER_PREFIX)


def record_to_sample(record: Any, *, where: str = "record", source: str = "", keep_system: bool = False,
                     validate_designs: bool = True) -> SFTSample:
    """One ShareGPT record -> :class:`SFTSample`.

    Args:
        keep_system: keep a leading system message of *designer* records. Off by default: our
            ``short`` designer prompt (what the RL run prompts the SFT model with) is the user
            message alone, and the release's system line would make SFT and RL prompts differ.
        validate_designs: designer answers must pass :func:`verl_metaagent.design.validate_design`.

    Raises:
        SampleError: why the record cannot be used.
    """
    if not isinstance(record, dict):
        raise SampleError(f"{where}: expected a JSON object, got {type(record).__name__}", "not an object")
    if "conversations" not in record:
        raise SampleError(f"{where}: no 'conversations' field (keys: {', '.join(sorted(record)) or 'none'})",
                          "no conversations")
    messages = _turns_to_messages(record["conversations"], where)
    record_id = record.get("id")
    if record_id is None or str(record_id).strip() == "":
        digest = hashlib.sha256(
            json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
        record_id = f"sharegpt_{digest}"
    record_id = str(record_id)
    role = "designer" if _is_designer(record_id, messages) else "executor"
    pattern = ""
    if role == "designer":
        if not keep_system and messages and messages[0]["role"] == "system":
            messages = messages[1:]
        answer = messages[-1]["content"] if messages else None
        _, code, error = split_designer_answer(answer)
        if code is None:
            raise SampleError(f"{where}: unparsable design: {error}", "unparsable design")
        if validate_designs:
            from verl_metaagent.design.validate import validate_design

            reasons = list(validate_design(code))
            if reasons:
                raise SampleError(f"{where}: invalid design: {reasons[0]}", "invalid design")
        from verl_metaagent.design.classify import classify_design

        pattern = classify_design(code)
    if not record_id.startswith(role):
        record_id = f"{role}_{record_id}"
    return SFTSample(id=record_id, role=role, messages=messages, pattern=pattern, source=source,
                     task_type=str(record.get("task_type", "") or ""),
                     data_source=str(record.get("data_source", "") or ""))


def _iter_records(path: str) -> Iterable[tuple[str, Any]]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stripped = text.lstrip()
    if path.endswith(".json") or stripped.startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ShareGPTError(f"{path}: not valid JSON ({exc}); a .json file must hold a list of records or one "
                                "record, or use .jsonl with one record per line") from None
        if isinstance(data, dict) and "conversations" in data:
            data = [data]  # one record
        if not isinstance(data, list):
            raise ShareGPTError(
                f"{path}: a .json file must hold a list of records or one record with 'conversations', "
                f"got {type(data).__name__}"
            )
        for i, record in enumerate(data):
            yield f"{os.path.basename(path)}[{i}]", record
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ShareGPTError(
                f"{path}:{lineno}: not a JSON object ({exc}); each line of a .jsonl file must be one record") from None
        yield f"{os.path.basename(path)}:{lineno}", record


def read_sharegpt(path: str, *, keep_system: bool = False,
                  validate_designs: bool = True) -> tuple[list[SFTSample], ImportReport]:
    """Read a ShareGPT ``.jsonl`` / ``.json`` file; bad records are skipped and counted in the report.

    Raises:
        FileNotFoundError: no such file.
        ShareGPTError: the file is not JSON / JSONL.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such ShareGPT file")
    report = ImportReport(path=path)
    samples: list[SFTSample] = []
    source = f"sharegpt:{os.path.basename(path)}"
    for where, record in _iter_records(path):
        report.read += 1
        try:
            sample = record_to_sample(record, where=where, source=source, keep_system=keep_system,
                                      validate_designs=validate_designs)
        except SampleError as exc:
            report.skip(exc.reason, str(exc)[:300])
            continue
        report.kept[sample.role] += 1
        samples.append(sample)
    return samples, report


def sample_to_record(sample: SFTSample, *, system_prompt: Optional[str] = None) -> dict:
    """An :class:`SFTSample` as a release-style record ``{"id", "conversations": [{"from", "value"}, ...]}``.

    Args:
        system_prompt: prepended as a system turn when the sample has none (the release's designer
            records carry ``"You are an expert Python developer specializing in multi-agent workflow systems."``).
    """
    messages = list(sample.messages)
    if system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system_prompt}] + messages
    return {"id": sample.id, "conversations": [{"from": m["role"], "value": m["content"]} for m in messages]}


def write_sharegpt(samples: Iterable[SFTSample], path: str, *, system_prompt: Optional[str] = None) -> int:
    """Write samples as release-style JSONL (atomically: a temp file renamed into place); returns the count."""
    tmp = f"{path}.tmp-{os.getpid()}"
    n = 0
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as f:
        for sample in samples:
            f.write(json.dumps(sample_to_record(sample, system_prompt=system_prompt), ensure_ascii=False) + "\n")
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n
