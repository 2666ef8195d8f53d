"""Structure analysis of MetaAgent-X's designs: which patterns the designer picks, where, at what cost.

From evaluation records (:mod:`.records`), pure functions first, then plots:

* :func:`pattern_counts`: design patterns (``single``, ``ensemble``, ``reflection``, ...,
  ``invalid``) by benchmark, by difficulty (the single-agent solve rate of the problem:
  ``easy`` = the single agent solved every attempt, ``medium`` = some, ``hard`` = none) or by the
  dataset's own difficulty label;
* :func:`design_sizes`: agents per design (distinct agents its executions called) and agent
  calls per execution, by benchmark;
* :func:`accuracy_by_difficulty`: every system's accuracy within each difficulty bucket;
* :func:`render_analysis_markdown` and :func:`write_plots` (PNG, matplotlib's Agg backend):
  ``patterns_by_benchmark.png``, ``patterns_by_difficulty.png``, ``design_size.png``,
  ``cost_vs_accuracy.png``.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from typing import Iterable, Optional, Sequence

from verl_metaagent.eval.benchmarks import benchmark_info, benchmark_order
from verl_metaagent.eval.metrics import summarize_systems

__all__ = [
    "PATTERN_ORDER", "DIFFICULTY_ORDER", "difficulty_bucket", "solve_rates", "design_rows", "pattern_counts",
    "design_sizes", "accuracy_by_difficulty", "render_analysis_markdown", "write_plots",
]

PATTERN_ORDER = ("single", "reflection", "ensemble", "debate", "plan_verify", "code_test", "other", "invalid")
DIFFICULTY_ORDER = ("easy", "medium", "hard", "unknown")
_COLORS = {"single": "#4c72b0", "reflection": "#dd8452", "ensemble": "#55a868", "debate": "#c44e52",
           "plan_verify": "#8172b3", "code_test": "#937860", "other": "#da8bc3", "invalid": "#8c8c8c"}


def difficulty_bucket(rate: Optional[float]) -> str:
    """``easy`` (rate 1), ``medium`` (0 < rate < 1), ``hard`` (rate 0), ``unknown`` (no baseline run)."""
    if rate is None:
        return "unknown"
    if rate >= 1.0:
        return "easy"
    return "hard" if rate <= 0.0 else "medium"


def solve_rates(records: Iterable[dict], system: str = "single_agent") -> dict[tuple, float]:
    """``{(benchmark, problem_id): fraction of correct attempts}`` of ``system``."""
    hits: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        if r["system"] == system:
            hits[(r["benchmark"], str(r["problem_id"]))].append(1.0 if r.get("correct") else 0.0)
    return {k: sum(v) / len(v) for k, v in hits.items()}


def design_rows(records: Iterable[dict], *, system: str = "metaagent", baseline: str = "single_agent") -> list[dict]:
    """One dict per design written by ``system``: benchmark, problem, pattern, sizes, reward, difficulty."""
    records = list(records)
    rates = solve_rates(records, baseline)
    rows = []
    for r in records:
        if r["system"] != system:
            continue
        key = (r["benchmark"], str(r["problem_id"]))
        for d in r.get("designs") or []:
            if not d.get("designed", True):
                continue
            rows.append({
                "benchmark": r["benchmark"],
                "problem_id": str(r["problem_id"]),
                "sample": r["sample"],
                "pattern": d.get("pattern") or "other",
                "valid": bool(d.get("valid")),
                "num_agents": int(d.get("num_agents") or 0),
                "agents_used": int(d.get("agents_used") or 0),
                "calls_per_execution": float(d.get("calls_per_execution") or 0.0),
                "reward": float(d.get("reward") or 0.0),
                "correct": bool(r.get("correct")),
                "difficulty": difficulty_bucket(rates.get(key)),
                "label": r.get("difficulty") or "unknown",
            })
    return rows


def pattern_counts(records: Iterable[dict], *, by: str = "benchmark", system: str = "metaagent",
                   baseline: str = "single_agent") -> dict[str, Counter]:
    """``{group: Counter(pattern)}`` of ``system``'s designs; ``by`` = ``benchmark``, ``difficulty`` or ``label``."""
    if by not in ("benchmark", "difficulty", "label"):
        raise ValueError(f"by must be benchmark, difficulty or label, got {by!r}")
    out: dict[str, Counter] = defaultdict(Counter)
    for row in design_rows(records, system=system, baseline=baseline):
        out[row[by]][row["pattern"]] += 1
    return dict(out)


def design_sizes(records: Iterable[dict], *, system: str = "metaagent") -> dict[str, dict]:
    """Per benchmark (and ``all``): designs, valid share, mean agents per valid design, mean agent
    calls per execution, and the histograms ``{agents: designs}`` / ``{calls: designs}``."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in design_rows(records, system=system):
        groups[row["benchmark"]].append(row)
        groups["all"].append(row)
    out = {}
    for name, rows in groups.items():
        valid = [r for r in rows if r["valid"]]
        out[name] = {
            "designs": len(rows),
            "valid_share": len(valid) / len(rows) if rows else 0.0,
            "agents_mean": sum(r["agents_used"] for r in valid) / len(valid) if valid else 0.0,
            "calls_per_execution_mean": sum(r["calls_per_execution"] for r in valid) / len(valid) if valid else 0.0,
            "agents_hist": dict(sorted(Counter(r["agents_used"] for r in valid).items())),
            "calls_hist": dict(sorted(Counter(round(r["calls_per_execution"]) for r in valid).items())),
        }
    return out


def accuracy_by_difficulty(records: Iterable[dict], *, baseline: str = "single_agent") -> dict[str, dict[str, tuple]]:
    """``{system: {bucket: (correct attempts, attempts)}}`` with buckets from ``baseline``'s solve rate."""
    records = list(records)
    rates = solve_rates(records, baseline)
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in records:
        bucket = difficulty_bucket(rates.get((r["benchmark"], str(r["problem_id"]))))
        cell = out[r["system"]][bucket]
        cell[0] += int(bool(r.get("correct")))
        cell[1] += 1
    return {s: {b: tuple(v) for b, v in d.items()} for s, d in out.items()}


def _ordered(counter: Counter) -> list[str]:
    return [p for p in PATTERN_ORDER if counter.get(p)] + sorted(p for p in counter if p not in PATTERN_ORDER)


def _share_table(groups: dict[str, Counter], order: Sequence[str], label=lambda g: g) -> str:
    patterns = [p for p in PATTERN_ORDER if any(c.get(p) for c in groups.values())]
    patterns += sorted({p for c in groups.values() for p in c} - set(patterns))
    lines = ["| group | designs | " + " | ".join(patterns) + " |", "|---|---:|" + "---:|" * len(patterns)]
    for g in order:
        c = groups.get(g)
        if not c:
            continue
        total = sum(c.values())
        lines.append(
            f"| {label(g)} | {total} | " + " | ".join(f"{100 * c.get(p, 0) / total:.1f}%" for p in patterns) + " |")
    return "\n".join(lines)


def render_analysis_markdown(records: Sequence[dict], *, system: str = "metaagent",
                             baseline: str = "single_agent") -> str:
    """Pattern shares by benchmark and difficulty, design sizes, accuracy by difficulty, cost per solved problem."""
    from verl_metaagent.eval.table import system_label, system_order

    records = list(records)
    out = ["## Structure analysis", ""]
    by_bench = pattern_counts(records, by="benchmark", system=system, baseline=baseline)
    if not by_bench:
        out += [f"No designs by `{system}` in these records.", ""]
    else:
        benches = benchmark_order(by_bench)
        out += ["### Design patterns by benchmark", "",
                _share_table(by_bench, benches, lambda b: benchmark_info(b).label), ""]
        by_diff = pattern_counts(records, by="difficulty", system=system, baseline=baseline)
        out += ["### Design patterns by difficulty (single-agent solve rate: easy = always solved, hard = never; "
                f"`{baseline}`)",
                "", _share_table(by_diff, DIFFICULTY_ORDER), ""]
        by_label = pattern_counts(records, by="label", system=system, baseline=baseline)
        if set(by_label) - {"unknown"}:
            out += ["### Design patterns by the dataset's difficulty label", "",
                    _share_table(by_label, sorted(by_label)), ""]
        sizes = design_sizes(records, system=system)
        lines = ["| benchmark | designs | valid | agents / design | agent calls / execution |",
                 "|---|---:|---:|---:|---:|"]
        for b in benches + ["all"]:
            s = sizes.get(b)
            if s:
                lines.append(f"| {benchmark_info(b).label if b != 'all' else 'all'} | {s['designs']} | "
                             f"{100 * s['valid_share']:.1f}% | "
                             f"{s['agents_mean']:.2f} | {s['calls_per_execution_mean']:.2f} |")
        out += ["### Agents and calls per design (valid designs)", ""] + lines + [""]
    acc = accuracy_by_difficulty(records, baseline=baseline)
    buckets = [b for b in DIFFICULTY_ORDER if any(b in d for d in acc.values())]
    if acc:
        lines = ["| Method | " + " | ".join(buckets) + " |", "|---|" + "---:|" * len(buckets)]
        for sid in system_order(acc):
            cells = [f"{100 * acc[sid][b][0] / acc[sid][b][1]:.1f}% ({acc[sid][b][1]})" if b in acc[sid] else "-"
                     for b in buckets]
            lines.append(f"| {system_label(sid)} | " + " | ".join(cells) + " |")
        out += ["### Accuracy by difficulty (attempts in parentheses)", ""] + lines + [""]
    summaries = summarize_systems(records) if records else {}
    if summaries:
        lines = ["| Method | solved attempts | LLM calls / solved | tokens / solved |", "|---|---:|---:|---:|"]
        for sid in system_order(summaries):
            s = summaries[sid]
            lines.append(f"| {system_label(sid)} | {s.solved}/{s.attempts} | "
                         f"{'-' if s.calls_per_solved is None else f'{s.calls_per_solved:.2f}'} | "
                         f"{'-' if s.tokens_per_solved is None else f'{s.tokens_per_solved:,.0f}'} |")
        out += ["### Cost per solved problem", ""] + lines + [""]
    return "\n".join(out)


def _stacked_shares(ax, groups: dict[str, Counter], order: Sequence[str], labels: Sequence[str], title: str) -> None:
    patterns = [p for p in PATTERN_ORDER if any(groups[g].get(p) for g in order)]
    patterns += sorted({p for g in order for p in groups[g]} - set(patterns))
    left = [0.0] * len(order)
    for p in patterns:
        shares = [100 * groups[g].get(p, 0) / max(1, sum(groups[g].values())) for g in order]
        ax.barh(range(len(order)), shares, left=left, color=_COLORS.get(p, "#cccccc"), label=p, edgecolor="white")
        left = [a + b for a, b in zip(left, shares)]
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([f"{lab} (n={sum(groups[g].values())})" for lab, g in zip(labels, order)])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of designs (%)")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8, title="pattern",
              title_fontsize=8)


def write_plots(records: Sequence[dict], out_dir: str, *, system: str = "metaagent",
                baseline: str = "single_agent") -> list[str]:
    """Write the analysis PNGs into ``out_dir`` (only those with data); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from verl_metaagent.eval.table import system_label, system_order

    records = list(records)
    os.makedirs(out_dir, exist_ok=True)
    paths: list[str] = []

    def save(fig, name: str) -> None:
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)

    by_bench = pattern_counts(records, by="benchmark", system=system, baseline=baseline)
    if by_bench:
        order = benchmark_order(by_bench)
        fig, ax = plt.subplots(figsize=(8, 1.2 + 0.55 * len(order)))
        _stacked_shares(ax, by_bench, order, [benchmark_info(b).label for b in order], "Design patterns by benchmark")
        save(fig, "patterns_by_benchmark.png")
        by_diff = pattern_counts(records, by="difficulty", system=system, baseline=baseline)
        order = [d for d in DIFFICULTY_ORDER if d in by_diff]
        fig, ax = plt.subplots(figsize=(8, 1.2 + 0.55 * len(order)))
        _stacked_shares(ax, by_diff, order, order, "Design patterns by difficulty (single-agent solve rate)")
        save(fig, "patterns_by_difficulty.png")
        sizes = design_sizes(records, system=system).get("all")
        if sizes and sizes["agents_hist"]:
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
            a1.bar([str(k) for k in sizes["agents_hist"]], list(sizes["agents_hist"].values()), color="#4c72b0")
            a1.set_xlabel("agents per design (distinct agents called)")
            a1.set_ylabel("valid designs")
            a1.set_title("Agents per design")
            a2.bar([str(k) for k in sizes["calls_hist"]], list(sizes["calls_hist"].values()), color="#55a868")
            a2.set_xlabel("agent calls per execution (rounded)")
            a2.set_title("Calls per execution")
            save(fig, "design_size.png")
    summaries = summarize_systems(records) if records else {}
    if summaries:
        order = system_order(summaries)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, 1]})
        markers = "osD^vP*Xh<>p"
        for i, sid in enumerate(order):
            s = summaries[sid]
            a1.scatter(s.calls, 100 * s.accuracy, s=60, marker=markers[i % len(markers)], label=system_label(sid),
                       alpha=0.85)
        a1.margins(x=0.15, y=0.15)
        a1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7, frameon=False, ncol=2)
        a1.set_xlabel("LLM calls per problem")
        a1.set_ylabel("average accuracy (%)")
        a1.set_title("Accuracy vs cost")
        values = [summaries[s].tokens_per_solved or 0.0 for s in order]
        a2.barh(range(len(order)), values, color="#937860")
        a2.set_yticks(range(len(order)))
        a2.set_yticklabels([system_label(s) for s in order], fontsize=7)
        a2.invert_yaxis()
        a2.set_xlabel("tokens per solved problem (0 = none solved)")
        a2.set_title("Cost per solved problem")
        save(fig, "cost_vs_accuracy.png")
    return paths
