"""Plain-text rendering of a :class:`~verl_metaagent.solve.SolveResult` (what ``metaagent solve`` prints)."""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["format_result", "result_to_json", "terminal_safe"]

# C0 controls except tab/newline, DEL and C1 controls (ESC starts terminal escape sequences)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Model text made safe to print: control characters (terminal escape sequences) shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _clip(text: Optional[str], limit: int) -> str:
    text = "" if text is None else str(text)
    if limit and len(text) > limit:
        text = text[:limit] + f"\n... [{len(text) - limit} more characters]"
    return terminal_safe(text)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.split("\n"))


def format_result(result, *, max_chars: int = 2000, show_prompts: bool = False) -> str:
    """The design(s), each execution's agent calls, and the answer, as readable text.

    Args:
        max_chars: clip every message / reply to this many characters (0 = no clipping).
        show_prompts: also print each call's system prompt and earlier turns (default: the last
            user message and the reply).
    """
    graded = result.reward is not None
    out = []
    for d in result.tree.designs:
        origin = "designed by the model" if d.messages is not None else "fixed design"
        state = "valid" if d.valid else "INVALID"
        out.append(f"=== Design {d.j + 1} ({origin}; pattern: {d.pattern}; {state}) ===")
        if d.code:
            out.append(terminal_safe(d.code.rstrip()))
        else:
            out.append(_clip(d.text, max_chars))
        if not d.valid:
            out.append(f"--- invalid design: {_clip(d.invalid_reason, max_chars)}")
        for e in d.executions:
            reward = f", reward {e.reward:g}" if graded else ""
            out.append(f"=== Execution {e.k + 1}: {e.status}{reward}, {len(e.calls)} agent calls ===")
            if e.reason and e.status != "finished":
                out.append(f"    ({_clip(e.reason, max_chars)})")
            for i, call in enumerate(e.calls):
                out.append(f"[call {i + 1}] {_clip(call.agent, 200)}  ({call.prompt_tokens} prompt + "
                           f"{call.completion_tokens} completion tokens)")
                messages = call.messages or []
                prompt_part = (messages[:-1] if show_prompts
                               else [m for m in messages[:-1] if m.get("role") == "user"][-1:])
                for m in prompt_part:
                    out.append(f"  {m.get('role')}:")
                    out.append(_indent(_clip(m.get("content"), max_chars)))
                if messages and messages[-1].get("role") == "assistant":
                    out.append("  reply:")
                    out.append(_indent(_clip(messages[-1].get("content"), max_chars)))
            out.append(
                f"  final answer: {_clip(e.final_answer, max_chars) if e.final_answer is not None else '(none)'}")
    out.append("=== Answer ===")
    out.append(_clip(result.answer, 0) if result.answer is not None else "(no answer)")
    tail = f"({result.llm_calls} LLM calls, {result.tokens} tokens"
    if graded:
        tail += f", reward {result.reward:g}"
    out.append(tail + ")")
    return "\n".join(out)


def result_to_json(result) -> dict:
    """JSON-ready summary: answer, reward, cost, and the whole tree (as the trace viewer stores it)."""
    from verl_metaagent.eval.records import tree_to_dict

    return {
        "answer": result.answer,
        "reward": result.reward,
        "llm_calls": result.llm_calls,
        "tokens": result.tokens,
        "design": result.design_code,
        "pattern": result.design.pattern if result.design else None,
        "tree": tree_to_dict(result.tree),
    }
