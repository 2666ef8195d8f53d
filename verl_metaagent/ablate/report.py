"""The ablation report: ``results.json`` (one record per run), ``tables.md`` and ``curves.png``."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Optional

from verl_metaagent.ablate.arms import ARMS, BASELINE
from verl_metaagent.ablate.stats import mean_ci, paired_difference, welch_difference
from verl_metaagent.demo.family import DESIGNS, KINDS, best_design, expected_design_reward
from verl_metaagent.demo.report import save_figure


def load_records(out: Path, arm_names: list[str], seeds: list[int]) -> list[dict]:
    """The records of the finished runs of ``arm_names`` x ``seeds`` (missing runs are left out)."""
    records = []
    for arm in arm_names:
        for seed in seeds:
            path = Path(out) / "runs" / arm / f"seed{seed}" / "record.json"
            if path.exists():
                records.append(json.loads(path.read_text()))
    return records


def _fmt(x: Optional[float], spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def _ci(stat: dict) -> str:
    if stat["mean"] is None:
        return "-"
    if stat["n"] < 2:
        return f"{stat['mean']:.3f} (n=1)"
    return f"{stat['mean']:.3f} [{stat['lo']:.3f}, {stat['hi']:.3f}]"


def _by_arm(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r["arm"], []).append(r)
    return out


def _policy(r: dict, key: str) -> Optional[float]:
    s = r.get("policy_final_summary") or {}
    return s.get(key)


def best_design_share(summary: Optional[dict]) -> Optional[float]:
    """Mean over kinds of the best design's share among the three designs (renormalised: unlike
    ``p_best_design``, it does not fall when probability mass leaves the canonical scripts)."""
    if not summary or any(f"share_{k}" not in summary for k in KINDS):
        return None
    return sum(summary[f"share_{k}"][best_design(k)] for k in KINDS) / len(KINDS)


def arm_table(records: list[dict]) -> str:
    """The main table: one row per arm (mean and 95% CI over seeds; difference to the baseline)."""
    groups = _by_arm(records)
    lines = [
        "| arm | seeds | final reward [95% CI] | vs baseline (Welch 95% CI) | vs baseline, paired by seed (95% CI) | "
        "first-4 reward | P(best design) | best-design share | P(call correct) | design entropy | valid designs | "
        "calls / execution |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in [a for a in ARMS if a in groups]:
        rs = groups[name]
        final = mean_ci([r["final_reward"] for r in rs])
        if name == BASELINE:
            diffs = ["(baseline)", "(baseline)"]
        else:
            welch, paired = _differences(rs, groups.get(BASELINE, []))
            diffs = [_diff_cell(welch), _diff_cell(paired)]
        row = [
            f"`{name}`: {ARMS[name].label}", str(len(rs)), _ci(final), *diffs,
            _fmt(mean_ci([r["first_reward"] for r in rs])["mean"]),
            _ci(mean_ci([_policy(r, "p_best_design") for r in rs])),
            _ci(mean_ci([best_design_share(r.get("policy_final_summary")) for r in rs])),
            _ci(mean_ci([_policy(r, "p_call_correct") for r in rs])),
            _fmt(mean_ci([_policy(r, "design_entropy") for r in rs])["mean"]),
            _fmt(mean_ci([r["final_valid_rate"] for r in rs])["mean"]),
            _fmt(mean_ci([r["final_calls_per_execution"] for r in rs])["mean"], ".2f"),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def kind_table(records: list[dict]) -> str:
    """Final reward per problem kind and arm (mean over seeds)."""
    groups = _by_arm(records)
    lines = ["| arm | " + " | ".join(KINDS) + " |", "|---|" + "---|" * len(KINDS)]
    for name in [a for a in ARMS if a in groups]:
        cells = [_ci(mean_ci([r["final_reward_by_kind"].get(k) for r in groups[name]])) for k in KINDS]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def structure_table(records: list[dict]) -> str:
    """Designer structure vs difficulty: P(design | kind) at the warm start and at the end, per arm."""
    groups = _by_arm(records)
    head = "| arm | policy | " + " | ".join(f"{k}: {' / '.join(DESIGNS)}" for k in KINDS) + " |"
    lines = [head, "|---|---|" + "---|" * len(KINDS)]
    expected = " | ".join(" / ".join(f"{expected_design_reward(d, k):.2f}" for d in DESIGNS)
                          + f" (best: {best_design(k)})"
                          for k in KINDS)
    lines.append(f"| (expected reward under the warm-start skill) | - | {expected} |")
    for name in [a for a in ARMS if a in groups]:
        for when in ("warm_start", "final"):
            summaries = [r.get(f"policy_{when}_summary") for r in groups[name]]
            summaries = [s for s in summaries if s]
            if not summaries:
                continue
            cells = []
            for k in KINDS:
                shares = [sum(s[f"share_{k}"][d] for s in summaries) / len(summaries) for d in DESIGNS]
                cells.append(" / ".join(f"{v:.2f}" for v in shares))
            lines.append(f"| `{name}` | {when.replace('_', ' ')} | " + " | ".join(cells) + " |")
            if when == "warm_start" and name != BASELINE:
                lines.pop()  # the warm start is shared by every arm of a seed: show it once
    return "\n".join(lines)


def _differences(arm_runs: list[dict], base_runs: list[dict]) -> tuple[Optional[dict], Optional[dict]]:
    """The arm's final reward minus the baseline's: (Welch over the seeds, paired by seed)."""
    welch = welch_difference([r["final_reward"] for r in arm_runs], [r["final_reward"] for r in base_runs])
    paired = paired_difference({r["seed"]: r["final_reward"] for r in arm_runs},
                               {r["seed"]: r["final_reward"] for r in base_runs})
    return welch, paired


def _interval(d: dict) -> str:
    return f"{d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"


def _diff_cell(d: Optional[dict]) -> str:
    return "-" if d is None else _interval(d) + (" **separated**" if d["separated"] else "")


def _verdict(d: dict) -> str:
    if not d["separated"]:
        return f"not separated, {_interval(d)}"
    return ("lower than" if d["diff"] < 0 else "higher than") + f" the baseline, {_interval(d)}"


def findings(records: list[dict]) -> str:
    """One line per arm: its final reward against the baseline's, Welch and paired by seed, and whether each
    95% interval excludes 0."""
    groups = _by_arm(records)
    lines = []
    for name in [a for a in ARMS if a in groups and a != BASELINE]:
        welch, paired = _differences(groups[name], groups.get(BASELINE, []))
        claim = f" (paper: {ARMS[name].paper})" if ARMS[name].paper else ""
        if welch is None:
            lines.append(f"- `{name}`{claim}: fewer than 2 seeds on one side, no interval.")
            continue
        line = f"- `{name}`{claim}: Welch: {_verdict(welch)}"
        if paired is not None:
            line += f"; paired by seed ({len(paired['seeds'])} seeds): {_verdict(paired)}"
        lines.append(line + ".")
    return "\n".join(lines)


def plot_curves(records: list[dict], path: Path) -> Path:
    """Mean reward per step of every arm (band: min..max over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _by_arm(records)
    names = [a for a in ARMS if a in groups]
    fig, axes = plt.subplots(2, (len(names) + 1) // 2 or 1, figsize=(3.2 * ((len(names) + 1) // 2 or 1), 6), dpi=100,
                             sharex=True, sharey=True, squeeze=False)
    for ax, name in zip(axes.flat, names):
        curves = [r["curve"] for r in groups[name]]
        n = min(len(c) for c in curves)
        steps = list(range(1, n + 1))
        cols = [[c[i] for c in curves if c[i] is not None] for i in range(n)]
        mean = [sum(v) / len(v) if v else None for v in cols]
        ax.fill_between(steps, [min(v) if v else 0 for v in cols], [max(v) if v else 0 for v in cols], alpha=0.25)
        ax.plot(steps, mean, "-", lw=2)
        for c in curves:
            ax.plot(steps, c[:n], "-", lw=0.6, alpha=0.5)
        trained = groups[name][0].get("trained") or []
        for i, role in enumerate(trained[:n]):
            if role in ("designer", "both"):
                ax.axvspan(i + 0.5, i + 1.5, color="#f4c27a", alpha=0.3, lw=0)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.supxlabel("training step (shaded: designer trained)")
    fig.supylabel("mean design reward (rollout)")
    return save_figure(fig, path)


def write_report(out: Path, report_dir: Path, arm_names: list[str], seeds: list[int]) -> list[Path]:
    """Write ``results.json``, ``tables.md`` and ``curves.png`` of the finished runs to ``report_dir``."""
    records = load_records(out, arm_names, seeds)
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    results = report_dir / "results.json"
    results.write_text(json.dumps(records, indent=1))
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    tables = report_dir / "tables.md"
    tables.write_text(
        f"Runs: {len(records)} ({machine}).\n\n## Final reward by arm\n\n" + arm_table(records)
        + "\n\n## Final reward by problem kind\n\n" + kind_table(records)
        + "\n\n## Designer structure vs difficulty (P(design | kind), renormalised over the three designs)\n\n"
        + structure_table(records) + "\n\n## Each arm against the baseline (final reward, 95% CIs)\n\n"
        + findings(records) + "\n"
    )
    paths = [results, tables]
    if records:
        paths.append(plot_curves(records, report_dir / "curves.png"))
    return paths
