"""Results tables in the paper's layout: systems as rows, benchmarks as columns, cost alongside.

``render_markdown(records)`` gives the main table (accuracy per benchmark, the average, LLM calls
and tokens per problem and tokens per solved problem on the same row), followed by per-benchmark
cost tables and notes (problems, samples, CoT-SC votes). ``render_csv`` is the main table as
CSV with raw numbers; ``render_long_csv`` has one line per (system, benchmark) cell.
"""

from __future__ import annotations

import csv
import io
import os
from typing import Iterable, Optional, Sequence

from verl_metaagent.eval.benchmarks import benchmark_info, benchmark_order
from verl_metaagent.eval.metrics import Cell, summarize_cells, summarize_systems

__all__ = ["system_order", "system_label", "render_markdown", "render_csv", "render_long_csv", "write_tables"]

DASH = "-"


def system_order(ids: Iterable[str]) -> list[str]:
    """Known systems in table order (single agent, CoT-SC, fixed designs, MetaAgent-X), unknown ones after."""
    from verl_metaagent.eval.systems import all_systems

    ids = set(ids)
    known = [s.id for s in all_systems() if s.id in ids]
    return known + sorted(ids - set(known))


def system_label(system_id: str) -> str:
    """The table label of ``system_id`` (the id itself for unknown systems)."""
    from verl_metaagent.eval.systems import all_systems

    for s in all_systems():
        if s.id == system_id:
            return s.label
    return system_id


def _pct(x: Optional[float]) -> str:
    return DASH if x is None else f"{100 * x:.2f}"


def _num(x: Optional[float], digits: int = 2) -> str:
    return DASH if x is None else f"{x:,.{digits}f}"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _metric_name(cells: Sequence[Cell]) -> str:
    ks = sorted({c.samples for c in cells}) or [1]
    if ks == [1]:
        return "pass@1"
    return "avg@" + "/".join(str(k) for k in ks)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(records: Sequence[dict], *, title: str = "Results") -> str:
    """The markdown report: main table, cost per benchmark, notes. Empty records give a one-line note."""
    records = list(records)
    if not records:
        return f"## {title}\n\nNo records yet.\n"
    cells = summarize_cells(records)
    systems = summarize_systems(records)
    benches = benchmark_order({b for _, b in cells})
    order = system_order(systems)
    metric = _metric_name(list(cells.values()))
    labels = [benchmark_info(b).label for b in benches]
    header = ["Method", *labels, "Avg.", "LLM calls / problem", "tokens / problem", "tokens / solved"]
    rows, partial = [], False
    for sid in order:
        summary = systems[sid]
        avg = _pct(summary.accuracy)
        if len(summary.benchmarks) < len(benches):
            avg += " †"
            partial = True
        rows.append([
            _md_escape(system_label(sid)),
            *[_pct(cells[(sid, b)].accuracy) if (sid, b) in cells else DASH for b in benches],
            avg,
            _num(summary.calls),
            _num(summary.tokens, 0),
            _num(summary.tokens_per_solved, 0),
        ])
    out = [f"## {title}", "", f"Accuracy: {metric} (%), one attempt = one system solving one problem once; "
           "cost columns are means per attempt over all benchmarks of the row.", "",
           _table(header, rows, ["l"] + ["r"] * (len(header) - 1))]
    if partial:
        out += ["", "† average over the benchmarks the system applies to (fixed designs written for one task type)."]
    for name, getter, digits in (
        ("LLM calls per problem", lambda c: c.calls, 2),
        ("Tokens per problem", lambda c: c.tokens, 0),
        ("Tokens per solved problem", lambda c: c.tokens_per_solved, 0),
    ):
        sub = [[_md_escape(system_label(sid)),
                *[_num(getter(cells[(sid, b)]), digits) if (sid, b) in cells else DASH for b in benches]]
               for sid in order]
        out += ["", f"### {name}", "", _table(["Method", *labels], sub, ["l"] + ["r"] * len(labels))]
    notes = []
    counts = ", ".join(f"{benchmark_info(b).label} {max(c.problems for (s, bb), c in cells.items() if bb == b)}"
                       for b in benches)
    notes.append(f"Problems per benchmark: {counts}.")
    samples = sorted({c.samples for c in cells.values()})
    notes.append(f"Attempts per problem (k): {', '.join(map(str, samples))}.")
    sc = [(b, cells[("cot_sc", b)].sc_k) for b in benches if ("cot_sc", b) in cells]
    if sc:
        notes.append("CoT self-consistency votes per problem (matched to MetaAgent-X's mean LLM calls per problem, "
                     "rounded half up, unless fixed with --sc-k): "
                     + ", ".join(f"{benchmark_info(b).label} k={k if k else 'mixed'}" for b, k in sc) + ".")
    unfinished = [f"{system_label(s)} / {benchmark_info(b).label}" for (s, b), c in cells.items()
                  if c.problems < max(cc.problems for (ss, bb), cc in cells.items() if bb == b)]
    if unfinished:
        notes.append("Unfinished cells (fewer problems than the benchmark has): " + "; ".join(unfinished) + ".")
    out += ["", "### Notes", ""] + [f"* {_md_escape(n)}" for n in notes]
    return "\n".join(out) + "\n"


def _csv(rows: Sequence[Sequence]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _r(x: Optional[float], digits: int = 4):
    return "" if x is None else round(x, digits)


def render_csv(records: Sequence[dict]) -> str:
    """The main table as CSV: accuracy in percent per benchmark, average, pooled cost per attempt."""
    records = list(records)
    cells = summarize_cells(records)
    systems = summarize_systems(records)
    benches = benchmark_order({b for _, b in cells})
    rows = [["system", "label", *[f"{b}_accuracy" for b in benches], "avg_accuracy", "benchmarks",
             "llm_calls_per_problem", "tokens_per_problem", "llm_calls_per_solved", "tokens_per_solved"]]
    for sid in system_order(systems):
        s = systems[sid]
        rows.append([sid, system_label(sid),
                     *[_r(100 * cells[(sid, b)].accuracy) if (sid, b) in cells else "" for b in benches],
                     _r(100 * s.accuracy), len(s.benchmarks), _r(s.calls), _r(s.tokens),
                     _r(s.calls_per_solved), _r(s.tokens_per_solved)])
    return _csv(rows)


def render_long_csv(records: Sequence[dict]) -> str:
    """One CSV line per (system, benchmark) with every metric of :class:`~.metrics.Cell`."""
    cells = summarize_cells(records)
    fields = ["system", "benchmark", "problems", "attempts", "samples", "accuracy", "pass_at_k", "solved", "calls",
              "tokens", "prompt_tokens", "completion_tokens", "calls_per_solved", "tokens_per_solved", "sc_k"]
    rows = [fields]
    benches = benchmark_order({b for _, b in cells})
    for sid in system_order({s for s, _ in cells}):
        for b in benches:
            c = cells.get((sid, b))
            if c is not None:
                rows.append([_r(getattr(c, f)) if isinstance(getattr(c, f), float)
                             else ("" if getattr(c, f) is None else getattr(c, f)) for f in fields])
    return _csv(rows)


def write_tables(records: Sequence[dict], out_dir: str, *, title: str = "Results") -> dict[str, str]:
    """Write ``results.md``, ``results.csv`` and ``results_long.csv`` into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name, text in (("results.md", render_markdown(records, title=title)), ("results.csv", render_csv(records)),
                       ("results_long.csv", render_long_csv(records))):
        path = os.path.join(out_dir, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        paths[name] = path
    return paths
