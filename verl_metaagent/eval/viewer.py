"""Static HTML trace viewer: one self-contained page per attempt, plus an index.

A page shows the problem, the design-execute tree at a glance (design -> executions -> agent
calls, each with its reward), then every design's script (and the designer's prompt and raw
answer), every execution's status, final answer and reward, and every agent call's messages.

Everything written by a model or read from a dataset is untrusted: it is HTML-escaped before it
reaches the page, pages carry a Content-Security-Policy that forbids scripts and any network
load (``default-src 'none'``), and there is no JavaScript or external CSS at all (collapsible
parts are ``<details>``). File names are derived from ids by a slug + hash, never used raw.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from typing import Iterable, Optional, Sequence
from urllib.parse import quote

from verl_metaagent.eval.benchmarks import benchmark_info, benchmark_order
from verl_metaagent.eval.records import record_key

__all__ = ["render_trace_page", "render_index", "write_trace_pages", "page_path"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#1d1d1f;background:#fafafa}
h1{font-size:1.35em;margin:.2em 0 .6em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.6em}
h3{font-size:1.02em;margin:1.1em 0 .4em}pre{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #e1e1e1;border-radius:6px;padding:8px 10px;font-size:12.5px;line-height:1.4;margin:.3em 0}
.code{background:#f6f8fa;counter-reset:ln}.code span.ln{display:block}.code span.ln:before{counter-increment:ln;content:counter(ln);display:inline-block;width:2.6em;color:#999;user-select:none}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;margin-left:6px;background:#e8e8ed}
.ok{background:#d9f2dd;color:#135c22}.bad{background:#fbdada;color:#8a1515}.mid{background:#fdf0c8;color:#6b4e00}
.summary td{padding:2px 12px 2px 0;vertical-align:top}.tree ul{list-style:none;padding-left:18px;margin:2px 0}.tree li{margin:2px 0}
.design,.execution{border:1px solid #ddd;border-radius:8px;padding:8px 14px;margin:12px 0;background:#fff}.execution{background:#fcfcfd}
.call{border-left:3px solid #9bb5e0;padding:2px 0 2px 10px;margin:10px 0}.msg-role{font-size:12px;color:#555;font-weight:600;margin-top:4px}
.msg-assistant pre{border-color:#9bb5e0;background:#f3f7ff}details>summary{cursor:pointer;color:#333;font-size:13px}
table.index{border-collapse:collapse;font-size:13px}table.index td,table.index th{border-bottom:1px solid #e5e5e5;padding:3px 10px;text-align:left}
.muted{color:#777;font-size:12px}
"""  # noqa: E501


def _e(value) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def _reward_badge(reward: Optional[float], label: str = "reward") -> str:
    if reward is None:
        return f'<span class="badge">{_e(label)} n/a</span>'
    cls = "ok" if reward >= 1.0 - 1e-9 else ("bad" if reward <= 0 else "mid")
    return f'<span class="badge reward {cls}" data-reward="{reward:g}">{_e(label)} {reward:g}</span>'


def _pre(text, cls: str = "") -> str:
    return f'<pre class="{cls}">{_e(text)}</pre>'


def _code_block(code: str) -> str:
    lines = "".join(f'<span class="ln">{_e(line) or " "}</span>' for line in str(code).rstrip("\n").split("\n"))
    return f'<pre class="code design-script">{lines}</pre>'


def _messages(messages: Sequence[dict], *, collapse_prompt: bool = True) -> str:
    parts = []
    for m in messages or []:
        role = str(m.get("role", ""))
        body = _pre(m.get("content", ""))
        if role == "assistant":
            parts.append(f'<div class="msg msg-assistant"><div class="msg-role">assistant (reply)</div>{body}</div>')
        elif collapse_prompt and role == "system":
            parts.append(f'<details class="msg msg-system"><summary>system prompt</summary>{body}</details>')
        else:
            parts.append(f'<div class="msg msg-{_e(role)}"><div class="msg-role">{_e(role)}</div>{body}</div>')
    return "".join(parts)


def _tree_overview(tree: dict, record: dict) -> str:
    items = []
    for d in tree.get("designs", []):
        j = d.get("j", 0)
        execs = []
        for e in d.get("executions", []):
            k = e.get("k", 0)
            calls = "".join(
                f'<li><a href="#d{j}e{k}c{i}">call {i + 1}: {_e(c.get("agent"))}</a> '
                f'<span class="muted">{int(c.get("prompt_tokens") or 0)}+{int(c.get("completion_tokens") or 0)} '
                'tokens</span></li>'
                for i, c in enumerate(e.get("calls", []))
            )
            execs.append(
                f'<li><a href="#d{j}e{k}">execution {k + 1}</a> <span class="badge">{_e(e.get("status"))}</span>'
                f'{_reward_badge(e.get("reward"), "r")} '
                f'<span class="muted">answer: {_e(_short(e.get("final_answer")))}</span>'
                f"<ul>{calls}</ul></li>"
            )
        status = "valid" if d.get("valid") else "invalid"
        items.append(
            f'<li><a href="#d{j}">design {j + 1}</a> <span class="badge">{_e(d.get("pattern"))}</span>'
            f'<span class="badge {"ok" if d.get("valid") else "bad"}">{status}</span>'
            f'{_reward_badge(d.get("reward"), "R")}'
            f"<ul>{''.join(execs)}</ul></li>"
        )
    top = _reward_badge(record.get("reward"), "reward")
    return f'<div class="tree"><ul><li><b>problem</b> {top}<ul>{"".join(items)}</ul></li></ul></div>'


def _short(text, limit: int = 80) -> str:
    text = "" if text is None else " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_trace_page(record: dict, trace: dict, *, index_href: Optional[str] = None) -> str:
    """The HTML page of one attempt (``record`` from records.jsonl, ``trace`` from traces.jsonl)."""
    from verl_metaagent.eval.table import system_label

    tree = trace.get("tree") or {}
    title = (f"{system_label(record['system'])} - {benchmark_info(record['benchmark']).label} - "
             f"problem {record['problem_id']} (attempt {int(record['sample']) + 1})")
    correct = bool(record.get("correct"))
    summary = [
        ("result", f'<span class="badge {"ok" if correct else "bad"}" id="verdict">'
                   f'{"solved" if correct else "not solved"}</span>{_reward_badge(record.get("reward"))}'),
        ("answer", f'<code id="answer">{_e(_short(record.get("answer"), 300))}</code>'),
        ("LLM calls", f'<span id="llm-calls">{int(record.get("llm_calls") or 0)}</span> '
                      f'({int(record.get("designer_calls") or 0)} designer, '
                      f'{int(record.get("agent_calls") or 0)} agent)'),
        ("tokens", f'{int(record.get("tokens") or 0):,} ({int(record.get("prompt_tokens") or 0):,} prompt + '
                   f'{int(record.get("completion_tokens") or 0):,} completion)'),
        ("time", f'{float(record.get("seconds") or 0):.1f} s'),
        ("data source", _e(record.get("data_source"))),
    ]
    if record.get("sc_k"):
        summary.append(("votes (k)", _e(record.get("sc_k"))))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f'<p class="muted"><a href="{_e(index_href)}">all problems</a></p>' if index_href else "",
        f"<h1>{_e(title)}</h1>",
        '<table class="summary">' + "".join(f"<tr><td><b>{_e(k)}</b></td><td>{v}</td></tr>" for k, v in summary)
        + "</table>",
        "<h2>Problem</h2>", _pre(tree.get("question"), "question"),
    ]
    if tree.get("ground_truth") not in (None, ""):
        parts += ["<h3>Ground truth</h3>", _pre(tree.get("ground_truth"), "ground-truth")]
    parts += ["<h2>Tree</h2>", _tree_overview(tree, record)]
    for d in tree.get("designs", []):
        j = d.get("j", 0)
        head = "Design" if d.get("designed") else "Fixed design"
        parts.append(f'<div class="design" id="d{j}"><h2>{head} {j + 1} '
                     f'<span class="badge pattern">{_e(d.get("pattern"))}</span>'
                     f'{_reward_badge(d.get("reward"), "R")}</h2>')
        if d.get("designed"):
            tokens = f'{int(d.get("prompt_tokens") or 0)}+{int(d.get("completion_tokens") or 0)} tokens'
            parts.append(f'<details><summary>designer prompt ({_e(tokens)})</summary>'
                         f'{_messages(d.get("designer_messages") or [], collapse_prompt=False)}</details>')
            parts.append(
                f'<details><summary>designer answer (raw)</summary>{_pre(d.get("text"), "designer-text")}</details>')
        if not d.get("valid"):
            parts.append(f'<p><span class="badge bad">invalid design</span> {_e(d.get("invalid_reason"))}</p>')
        if d.get("code"):
            parts += ["<h3>Script</h3>", _code_block(d["code"])]
        elif not d.get("valid"):
            parts.append(_pre(d.get("text"), "designer-text"))
        for e in d.get("executions", []):
            k = e.get("k", 0)
            parts.append(
                f'<div class="execution" id="d{j}e{k}"><h3>Execution {k + 1} '
                f'<span class="badge status">{_e(e.get("status"))}</span>'
                f'{_reward_badge(e.get("reward"), "r")} <span class="muted">'
                f'{int(e.get("prompt_tokens") or 0) + int(e.get("completion_tokens") or 0):,} tokens, '
                f'{float(e.get("seconds") or 0):.1f} s</span></h3>'
            )
            if e.get("reason"):
                parts.append(f'<p class="muted">{_e(e.get("reason"))}</p>')
            for i, c in enumerate(e.get("calls", [])):
                parts.append(
                    f'<div class="call agent-call" id="d{j}e{k}c{i}" data-agent="{_e(c.get("agent"))}">'
                    f'<b>call {i + 1}: <span class="agent">{_e(c.get("agent"))}</span></b> '
                    f'<span class="muted">{int(c.get("prompt_tokens") or 0)} prompt + '
                    f'{int(c.get("completion_tokens") or 0)} completion tokens</span>'
                    f'{_messages(c.get("messages") or [])}</div>'
                )
            parts.append(f'<p><b>final answer</b></p>{_pre(e.get("final_answer"), "final-answer")}</div>')
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def _slug(text: str, limit: int = 60) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", str(text))[:limit].strip("_") or "x"
    return f"{base}-{hashlib.sha1(str(text).encode('utf-8')).hexdigest()[:8]}"


def page_path(record: dict) -> str:
    """Relative path of an attempt's page: ``<system>/<benchmark>/<problem>_s<sample>.html`` (slugged)."""
    system, bench, pid, sample = record_key(record)
    return f"{_slug(system)}/{_slug(bench)}/{_slug(pid)}_s{sample}.html"


def render_index(rows: Sequence[tuple[dict, str]], *, title: str = "MetaAgent-X traces") -> str:
    """Index page: one table line per attempt (system, benchmark, problem, result, pattern, cost, link)."""
    from verl_metaagent.eval.table import system_label

    lines = []
    for record, href in rows:
        patterns = ", ".join(sorted({str(d.get("pattern")) for d in record.get("designs") or []}))
        correct = bool(record.get("correct"))
        lines.append(
            "<tr>"
            f"<td>{_e(system_label(record['system']))}</td><td>{_e(benchmark_info(record['benchmark']).label)}</td>"
            f'<td><a href="{_e(quote(href))}">{_e(record["problem_id"])}</a></td><td>{int(record["sample"]) + 1}</td>'
            f'<td><span class="badge {"ok" if correct else "bad"}">{"solved" if correct else "not solved"}</span></td>'
            f"<td>{_e(patterns)}</td><td>{int(record.get('llm_calls') or 0)}</td>"
            f"<td>{int(record.get('tokens') or 0):,}</td>"
            "</tr>"
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        f'content="{CSP}"><title>{_e(title)}</title><style>{CSS}</style></head><body>'
        f"<h1>{_e(title)}</h1><p class=\"muted\">{len(rows)} attempts</p>"
        '<table class="index"><tr><th>system</th><th>benchmark</th><th>problem</th><th>attempt</th><th>result</th>'
        "<th>patterns</th><th>LLM calls</th><th>tokens</th></tr>" + "".join(lines) + "</table></body></html>"
    )


def write_trace_pages(records: Iterable[dict], traces: dict, out_dir: str, *, systems: Optional[Sequence[str]] = None,
                      benchmarks: Optional[Sequence[str]] = None, problems: Optional[Sequence[str]] = None,
                      limit: Optional[int] = None) -> list[str]:
    """Write a page per attempt that has a trace (filtered by system / benchmark / problem id) and
    ``index.html`` into ``out_dir``; returns the page paths (index last)."""
    from verl_metaagent.eval.table import system_order

    chosen = [r for r in records
              if (not systems or r["system"] in systems) and (not benchmarks or r["benchmark"] in benchmarks)
              and (not problems or str(r["problem_id"]) in problems) and record_key(r) in traces]
    sys_rank = {s: i for i, s in enumerate(system_order({r["system"] for r in chosen}))}
    bench_rank = {b: i for i, b in enumerate(benchmark_order({r["benchmark"] for r in chosen}))}
    chosen.sort(
        key=lambda r: (bench_rank[r["benchmark"]], str(r["problem_id"]), sys_rank[r["system"]], int(r["sample"])))
    if limit is not None:
        chosen = chosen[:limit]
    written, rows = [], []
    for record in chosen:
        rel = page_path(record)
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        depth = rel.count("/")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(render_trace_page(record, traces[record_key(record)], index_href="../" * depth + "index.html"))
        written.append(path)
        rows.append((record, rel))
    index = os.path.join(out_dir, "index.html")
    os.makedirs(out_dir, exist_ok=True)
    with open(index, "w", encoding="utf-8") as fh:
        fh.write(render_index(rows))
    written.append(index)
    return written
