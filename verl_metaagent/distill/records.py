"""Cold-start SFT samples: the record, its validation and the designer-answer shape.

A :class:`SFTSample` is one chat (``messages``, ending with the assistant turn(s) to train on)
plus where it came from. Two roles:

* ``designer``: ``[user: short designer prompt, assistant: <think>...</think><code>```python ...```</code>]``
  (a leading system message is allowed, e.g. from the public release's records);
* ``executor``: one agent's whole chat in one correct execution (its system prompt, the
  messages the design sent it, and every reply it gave).

Everything here is pure (no I/O); samples come from teacher output or user files, so every
field is validated with an error that says what is wrong and how to fix it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional

__all__ = [
    "ROLES",
    "SampleError",
    "SFTSample",
    "validate_messages",
    "format_designer_answer",
    "split_designer_answer",
    "content_key",
]

#: The two sample roles.
ROLES = ("designer", "executor")
_CHAT_ROLES = ("system", "user", "assistant")


class SampleError(ValueError):
    """A sample (teacher output, dataset row or user record) is malformed; the message names the fix.

    ``reason`` is a short category for counting (``malformed chat``, ``invalid design`` ...).
    """

    def __init__(self, message: str, reason: str = "malformed chat"):
        super().__init__(message)
        self.reason = reason


def validate_messages(messages: Any, where: str = "sample") -> list[dict]:
    """Check and normalise a chat: a list of ``{"role", "content"}`` with string content.

    Rules: roles are ``system`` / ``user`` / ``assistant``; a system message may only come first;
    there is at least one user message before the first assistant message; the chat ends with a
    non-empty assistant message (the SFT target). Extra keys are dropped.

    Returns:
        A new list of plain ``{"role", "content"}`` dicts.

    Raises:
        SampleError: naming ``where``, the message index and the rule.
    """
    if hasattr(messages, "tolist"):  # numpy array from parquet
        messages = messages.tolist()
    if not isinstance(messages, (list, tuple)) or not messages:
        raise SampleError(
            f"{where}: messages must be a non-empty list of {{role, content}} dicts, got {type(messages).__name__}")
    out: list[dict] = []
    seen_user = False
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping):
            raise SampleError(
                f"{where}: message {i} is a {type(m).__name__}, expected a dict with 'role' and 'content'")
        role, content = m.get("role"), m.get("content")
        if role not in _CHAT_ROLES:
            raise SampleError(f"{where}: message {i} has role {role!r}; use one of {', '.join(_CHAT_ROLES)}")
        if not isinstance(content, str):
            raise SampleError(f"{where}: message {i} ({role}) content is {type(content).__name__}, expected a string")
        if role == "system" and i != 0:
            raise SampleError(f"{where}: message {i} is a system message; only the first message may be one")
        if role == "user":
            seen_user = True
        if role == "assistant" and not seen_user:
            raise SampleError(f"{where}: message {i} is an assistant reply before any user message")
        out.append({"role": role, "content": content})
    if out[-1]["role"] != "assistant":
        raise SampleError(f"{where}: the last message must be the assistant reply to train on, got {out[-1]['role']!r}")
    if not out[-1]["content"].strip():
        raise SampleError(f"{where}: the last assistant reply is empty")
    return out


@dataclass
class SFTSample:
    """One cold-start SFT sample.

    Attributes:
        id: unique id; distilled ids start with ``designer_`` / ``executor_`` (as the release's do).
        role: ``designer`` or ``executor``.
        messages: the chat (see :func:`validate_messages`); every assistant turn is trained.
        problem_id: the problem it came from (journal key).
        data_source / task_type: of that problem (``math/polaris``, ``math`` ...).
        pattern: structure class of the design (``classify_design``): the sample's own design for
            designer samples, the executed design for executor samples; ``""`` if unknown.
        reward: designer: mean execution reward of its design; executor: its execution's reward.
        agent: executor samples: the agent's name in the design.
        source: ``distill:<teacher model>`` or ``sharegpt:<file>``.
    """

    id: str
    role: str
    messages: list[dict]
    problem_id: str = ""
    data_source: str = ""
    task_type: str = ""
    pattern: str = ""
    reward: float = 0.0
    agent: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise SampleError(f"sample id must be a non-empty string, got {self.id!r}", "bad id")
        if self.role not in ROLES:
            raise SampleError(f"sample {self.id}: role must be one of {ROLES}, got {self.role!r}", "bad role")
        self.messages = validate_messages(self.messages, f"sample {self.id}")
        try:
            self.reward = float(self.reward)
        except (TypeError, ValueError):
            raise SampleError(f"sample {self.id}: reward must be a number, got {self.reward!r}", "bad reward") from None
        for name in ("problem_id", "data_source", "task_type", "pattern", "agent", "source"):
            value = getattr(self, name)
            setattr(self, name, "" if value is None else str(value))

    def to_dict(self) -> dict:
        """Plain JSON-able dict (journal lines, parquet rows)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping, where: str = "sample") -> "SFTSample":
        """Build from a dict (journal line, parquet row); unknown keys are ignored.

        Raises:
            SampleError: missing ``id`` / ``role`` / ``messages`` or an invalid field.
        """
        if not isinstance(data, Mapping):
            raise SampleError(f"{where}: expected a dict, got {type(data).__name__}")
        missing = [k for k in ("id", "role", "messages") if k not in data]
        if missing:
            raise SampleError(f"{where}: missing field(s) {', '.join(missing)}", "missing field")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def key(self) -> str:
        """Content key for de-duplication (see :func:`content_key`)."""
        return content_key(self)


# --------------------------------------------------------------------------------------------- designer answers

_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)


def format_designer_answer(think: str, code: str) -> str:
    """The release's designer answer shape:

    ``<think>{think}</think>\\n<code>\\n```python\\n{code}```\\n</code>``
    """
    body = code if code.endswith("\n") else code + "\n"
    return f"<think>\n{think.strip()}\n</think>\n<code>\n```python\n{body}```\n</code>"


def split_designer_answer(text: Any) -> tuple[str, Optional[str], Optional[str]]:
    """``(think, code, error)`` of a designer answer.

    ``think`` is the text of the first ``<think>...</think>`` block (stripped; ``""`` if none);
    ``code`` is the design script as :func:`verl_metaagent.design.parse_design` extracts it, and
    ``error`` says why there is none.
    """
    from verl_metaagent.design.parse import parse_design

    if not isinstance(text, str):
        return "", None, f"designer answer is {type(text).__name__}, expected a string"
    match = _THINK_BLOCK.search(text)
    think = match.group(1).strip() if match else ""
    parsed = parse_design(text)
    return think, parsed.code, parsed.error


# --------------------------------------------------------------------------------------------- de-duplication


def _norm(text: str) -> str:
    return " ".join(text.split())


def _code_norm(code: str) -> str:
    lines = []
    for line in code.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(" ".join(stripped.split()))
    return "\n".join(lines)


def content_key(sample: SFTSample) -> str:
    """Key two samples share when they teach the same thing.

    Executor: the whole chat with whitespace collapsed. Designer: the prompt plus the design
    script without comments and blank lines (two answers with the same design but different
    ``<think>`` wording count as duplicates).
    """
    prompt = [(m["role"], _norm(m["content"])) for m in sample.messages[:-1]]
    if sample.role == "designer":
        _, code, _ = split_designer_answer(sample.messages[-1]["content"])
        target = _code_norm(code) if code else _norm(sample.messages[-1]["content"])
    else:
        target = _norm(sample.messages[-1]["content"])
    blob = json.dumps([sample.role, prompt, target], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
