"""The design API: everything a design script may call.

A design script builds a small multi-agent system for one task. It may import this module
(``from verl_metaagent.design.api import *``) and a few pure standard-library modules (see
``validate.py``). Every effect outside the script goes through exactly one function,
``verl_metaagent.design._transport.request(op, payload)``, which the runtime relays to the
parent process:

* ``ask``       ``{agent, messages, sampling?}``      -> ``{text}``
* ``run_tests`` ``{code, tests: "public" | list}``    -> ``{passed, total, results}``
* ``final``     ``{answer}``                          -> ``{}``

The runtime calls :func:`configure` before the script starts and also exposes the task as
the script globals ``question`` and ``task_type``.

What the designer is taught about this module is the constant ``API_SPEC`` below (the
single source of truth; ``prompts.py`` embeds it verbatim, docs/design_api.md explains it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from verl_metaagent.design import _transport
from verl_metaagent.design._answers import answers as _answers

__all__ = [
    "API_SPEC",
    "MAX_CONTEXT_CHARS",
    "Agent",
    "Blackboard",
    "CodeRun",
    "TestReport",
    "ask",
    "extract_answer",
    "extract_code",
    "finish",
    "majority_vote",
    "memory",
    "normalize_answer",
    "pick",
    "run_code",
    "run_tests",
    "transcript",
]

#: Longest agent output (in characters) that is shown verbatim to other agents; longer
#: outputs keep their head and tail around an omission marker.
MAX_CONTEXT_CHARS = 3000
#: Characters kept from the head of a truncated output (the rest of the budget is the tail).
HEAD_CHARS = 800

# The compact spec shown to the designer (prompts.py embeds it verbatim).
API_SPEC = '''\
from verl_metaagent.design.api import *   # globals available: question (str), task_type ("math"|"code")

Agent(name, system_prompt, sees_others=True, sampling=None)
    An LLM agent played by the executor model. It keeps a private multi-turn history.
agent.ask(instruction="") -> str          # also: ask(agent, instruction="")
    One LLM call. The first call shows the question; every call shows outputs of other
    agents produced since this agent last spoke (if sees_others), then the instruction.
    Long outputs are truncated to a few thousand characters.
memory.post(text, author="note")          # shared blackboard, shown to agents that see others
memory["key"] = value; memory.get("key")  # plain shared key-value store for the script
extract_answer(text) -> str | None        # last \\boxed{...} (or "FINAL ANSWER: ...") in text
extract_code(text) -> str | None          # last ```python ...``` block in text
normalize_answer(ans) -> str              # canonical form used for voting
majority_vote(answers) -> str | None      # most common normalised answer; ties -> earliest
pick(judge, candidates, instruction="") -> str   # judge agent chooses one candidate
run_tests(code, tests="public") -> TestReport(passed, total, results, all_passed)  # code tasks
run_code(code, stdin="") -> CodeRun(stdout, error, ok)     # run a program once, no checks
finish(answer)                            # REQUIRED: send the final answer (math: the answer;
                                          # code: the full program) and end the script
'''


# --------------------------------------------------------------------------- task state
@dataclass
class _TaskState:
    question: str = ""
    task_type: str = "math"
    public_tests: Any = None
    # (author, text) entries visible to agents with sees_others=True, in order.
    entries: list = field(default_factory=list)
    finished: bool = False


_STATE = _TaskState()


def configure(question: str = "", task_type: str = "math", public_tests: Any = None) -> None:
    """Set the task for this script and reset all shared state (the runtime calls this once).

    Args:
        question: the task statement every agent sees on its first call.
        task_type: ``"math"`` or ``"code"``.
        public_tests: optional public tests (informational; ``run_tests("public")`` asks the parent).
    """
    global _STATE
    _STATE = _TaskState(question=str(question or ""), task_type=str(task_type or "math"), public_tests=public_tests)
    memory._reset()


def script_globals() -> dict:
    """Globals the runtime puts in a design's namespace: ``question``, ``task_type``, ``__name__``,
    and ``__builtins__`` whose ``__import__`` gives ``os`` / ``sys`` as sandbox stand-ins
    (:mod:`verl_metaagent.design.workflow.release_imports`)."""
    from verl_metaagent.design.workflow.release_imports import _design_builtins

    return {"__name__": "__design__", "question": _STATE.question, "task_type": _STATE.task_type,
            "__builtins__": _design_builtins()}


def transcript() -> list[tuple[str, str]]:
    """Return a copy of the shared transcript: ``(author, text)`` for every agent output and note."""
    return [tuple(e) for e in _STATE.entries]


def _truncate(text: str, limit: int = MAX_CONTEXT_CHARS) -> str:
    """Shorten ``text`` to at most about ``limit`` characters, keeping head and tail."""
    text = str(text)
    if len(text) <= limit:
        return text
    head = min(HEAD_CHARS, limit // 2)
    tail = limit - head
    return text[:head] + "\n...[truncated]...\n" + text[-tail:]


# --------------------------------------------------------------------------- memory
class Blackboard:
    """Shared memory of one execution.

    ``post(text, author)`` adds a note that every agent with ``sees_others=True`` will see on
    its next call; item access (``memory["k"] = v``) is a plain key-value store for the script.
    """

    def __init__(self) -> None:
        self._data: dict = {}

    def _reset(self) -> None:
        self._data = {}

    def post(self, text: Any, author: str = "note") -> None:
        """Add ``text`` to the shared transcript under ``author``."""
        _STATE.entries.append((str(author), str(text)))

    def get(self, key: str, default: Any = None) -> Any:
        """Return the stored value for ``key`` or ``default``."""
        return self._data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def keys(self):
        """Keys of the key-value store."""
        return self._data.keys()


memory = Blackboard()


# --------------------------------------------------------------------------- agents
class Agent:
    """An LLM agent answered by the executor model, with a private multi-turn history.

    Args:
        name: role name (also the ``agent`` field of every call it makes).
        system_prompt: the agent's system prompt.
        sees_others: show outputs of other agents (and memory notes) that appeared since
            this agent's previous call.
        sampling: optional sampling overrides passed to the parent (e.g. ``{"temperature": 0.7}``).
    """

    def __init__(self, name: str, system_prompt: str = "", sees_others: bool = True, sampling: Optional[dict] = None):
        self.name = str(name)
        self.system_prompt = str(system_prompt or "")
        self.sees_others = bool(sees_others)
        self.sampling = dict(sampling) if sampling else None
        self.history: list[dict] = []
        self._seen = 0  # number of transcript entries already shown to this agent
        self.last: Optional[str] = None

    def reset(self) -> None:
        """Forget the private history (the next call starts a fresh conversation)."""
        self.history = []
        self._seen = 0

    def _user_message(self, instruction: str) -> str:
        parts = []
        first = not self.history
        if first and _STATE.question:
            parts.append("Question:\n" + _STATE.question)
        if self.sees_others:
            new = [e for e in _STATE.entries[self._seen :] if e[0] != self.name]
            if new:
                shown = "\n\n".join(f"[{a}]:\n{_truncate(t)}" for a, t in new)
                parts.append("Outputs of other agents:\n" + shown)
        if instruction:
            parts.append(str(instruction))
        if not parts:
            parts.append("Solve the task.")
        return "\n\n".join(parts)

    def ask(self, instruction: str = "") -> str:
        """Make one LLM call and return the reply text (also posted to the shared transcript)."""
        user = self._user_message(instruction)
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.extend(self.history)
        messages.append({"role": "user", "content": user})
        text = complete(self.name, messages, self.sampling)
        self.history.append({"role": "user", "content": user})
        self.history.append({"role": "assistant", "content": text})
        _STATE.entries.append((self.name, text))
        self._seen = len(_STATE.entries)
        self.last = text
        return text

    def __repr__(self) -> str:
        return f"Agent({self.name!r})"


def complete(agent: str, messages: list, sampling: Optional[dict] = None) -> str:
    """Low-level single LLM call for role ``agent`` with explicit chat ``messages``; returns the text.

    Used by the workflow dialect; designs normally use :class:`Agent`. Nothing is recorded in
    the shared transcript.
    """
    payload: dict = {"agent": str(agent), "messages": [dict(m) for m in messages]}
    if sampling:
        payload["sampling"] = dict(sampling)
    reply = _transport.request("ask", payload)
    return str(reply.get("text", "")) if isinstance(reply, dict) else str(reply)


def get_task_type() -> str:
    """The configured task type (``"math"`` or ``"code"``)."""
    return _STATE.task_type


def get_question() -> str:
    """The configured question text."""
    return _STATE.question


def ask(agent: Agent, instruction: str = "") -> str:
    """Ask ``agent`` once; same as ``agent.ask(instruction)``."""
    return agent.ask(instruction)


# --------------------------------------------------------------------------- answers
# One extractor for the whole project: the graders, the workflow dialect and the rollout tree
# use the same functions (reward_fns.answers, stdlib only).
def extract_answer(text: Any) -> Optional[str]:
    """Return the final answer written in ``text``, or None.

    The content of the last complete ``\\boxed{...}``/``\\fbox{...}``; else the answer of the
    last answer sentence ("The final answer is X. ...", "Answer: X", "#### X"; a box left open
    by a truncated reply is never read); else the whole text when it is a bare answer.
    """
    return _answers.extract_answer(text)


def extract_code(text: Any) -> Optional[str]:
    """Return the last fenced python code block (```python / ```py / ```) in ``text``, or None."""
    return _answers.extract_code(text)


def normalize_answer(ans: Any) -> str:
    """Canonical form of an answer for comparison (the math grader's normal form).

    Reads the last ``\\boxed{}``; strips ``$``, ``\\text{}``, ``\\left``/``\\right``, spaces, units,
    a trailing period, thousands separators; spells every plain number one way. Examples:
    ``"$\\boxed{1,000}$." -> "1000"``, ``"\\dfrac{1}{2}"`` and ``"0.5"`` -> ``"\\frac{1}{2}"``.
    """
    return _answers.answer_key(ans)


def majority_vote(answers: Iterable[Any]) -> Optional[str]:
    """Most common answer after :func:`normalize_answer`; ties go to the earliest; ``None`` if empty.

    Empty / ``None`` answers do not vote. Returns the first original answer of the winning group.
    """
    return _answers.majority_vote(answers)


def pick(judge: Agent, candidates: list, instruction: str = "") -> str:
    """Ask ``judge`` to choose one of ``candidates``; return the chosen candidate.

    The judge sees the candidates numbered from 1 and must answer with ``\\boxed{k}``; an
    unreadable choice falls back to the first candidate.
    """
    cands = [str(c) for c in candidates]
    if not cands:
        raise ValueError("pick() needs at least one candidate")
    listing = "\n\n".join(f"Candidate {i}:\n{_truncate(c)}" for i, c in enumerate(cands, 1))
    ask_text = (
        (instruction + "\n\n" if instruction else "")
        + listing
        + f"\n\nChoose the best candidate. Answer with its number as \\boxed{{k}} (1..{len(cands)})."
    )
    reply = judge.ask(ask_text)
    choice = extract_answer(reply)
    m = re.search(r"\d+", choice or "")
    if m and 1 <= int(m.group()) <= len(cands):
        return cands[int(m.group()) - 1]
    return cands[0]


# --------------------------------------------------------------------------- code
@dataclass
class TestReport:
    """Result of :func:`run_tests`: ``passed`` of ``total`` tests; per-test ``results`` from the parent."""

    passed: int
    total: int
    results: list

    @property
    def all_passed(self) -> bool:
        """True when at least one test ran and all of them passed."""
        return self.total > 0 and self.passed == self.total

    def summary(self, limit: int = 3) -> str:
        """Short text for an agent: the counts and up to ``limit`` failing tests."""
        lines = [f"Passed {self.passed}/{self.total} tests."]
        fails = [r for r in self.results if isinstance(r, dict) and not r.get("passed")]
        for r in fails[:limit]:
            shown = {k: r[k] for k in ("input", "expected", "output", "stdout", "error") if k in r}
            lines.append(_truncate(str(shown), 600))
        return "\n".join(lines)


def run_tests(code: str, tests: Any = "public") -> TestReport:
    """Run program ``code`` against the task's public tests (``"public"``) or a list of tests.

    A test is ``{"input": stdin, "output": expected_stdout}``. The code runs in the parent's
    sandbox, never in the script.
    """
    if code is None:
        code = ""
    reply = _transport.request("run_tests", {"code": str(code), "tests": tests})
    return TestReport(
        passed=int(reply.get("passed", 0)), total=int(reply.get("total", 0)), results=list(reply.get("results", []))
    )


@dataclass
class CodeRun:
    """Result of :func:`run_code`: captured ``stdout``, an ``error`` text (empty if none), ``ok``."""

    stdout: str
    error: str

    @property
    def ok(self) -> bool:
        """True when the program ran without an error."""
        return not self.error


def run_code(code: str, stdin: str = "") -> CodeRun:
    """Run ``code`` once with ``stdin`` in the sandbox and return what it printed.

    Implemented as a ``run_tests`` request with one test without expected output
    (``{"input": stdin, "output": None}``); the parent reports ``stdout`` and ``error`` in
    that test's result.
    """
    report = run_tests(code, [{"input": str(stdin), "output": None}])
    res = report.results[0] if report.results and isinstance(report.results[0], dict) else {}
    out = res.get("stdout", res.get("output", ""))
    err = res.get("error") or res.get("stderr") or ""
    return CodeRun(stdout="" if out is None else str(out), error=str(err))


# --------------------------------------------------------------------------- finish
def finish(answer: Any) -> None:
    """Send the final answer to the parent and end the script (raises ``SystemExit(0)``).

    Math: the answer itself (``"204"`` or ``"\\frac{3}{4}"``; a ``\\boxed{}`` is fine).
    Code: the complete program. ``None`` is sent as an empty answer.
    """
    if _STATE.finished:
        raise SystemExit(0)
    _STATE.finished = True
    _transport.request("final", {"answer": "" if answer is None else str(answer)})
    raise SystemExit(0)
