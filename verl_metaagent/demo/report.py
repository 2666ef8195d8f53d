"""Per-step rows, progress lines, summary and plot of the demo, all read from verl's JSONL tracker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

#: Tracker keys the demo reports (short name -> verl metric name).
METRICS = {
    "designer_reward": "metaagent/rollout/designer_reward_mean",
    "executor_reward": "metaagent/rollout/executor_reward_mean",
    "design_valid_rate": "metaagent/rollout/design_valid_rate",
    "vote_share": "metaagent/rollout/pattern/ensemble",
    "single_share": "metaagent/rollout/pattern/single",
    "other_share": "metaagent/rollout/pattern/other",
    "calls_per_execution": "metaagent/rollout/calls_per_execution",
    "phase_index": "metaagent/phase/index",
    "trains_designer": "metaagent/phase/trains_designer",
    "trains_executor": "metaagent/phase/trains_executor",
    "step_seconds": "timing_s/step",
}


def step_row(record: dict) -> Optional[dict]:
    """One summary row from one tracker record (``{"step", "data"}``), or None if it is no training step."""
    data = record.get("data", record)
    if not isinstance(data, dict) or "training/global_step" not in data:
        return None
    row: dict = {"step": int(data["training/global_step"])}
    for short, key in METRICS.items():
        value = data.get(key)
        row[short] = None if value is None else float(value)
    for share in ("vote_share", "single_share", "other_share"):
        if row[share] is None and row["design_valid_rate"] is not None:
            row[share] = 0.0  # the rollout omits patterns that did not occur
    if row["trains_designer"] and row["trains_executor"]:
        row["phase"] = "both"
    elif row["trains_designer"]:
        row["phase"] = "designer"
    elif row["trains_executor"]:
        row["phase"] = "executor"
    else:
        row["phase"] = None
    return row


def read_rows(path: Path) -> list[dict]:
    """Summary rows of every training step in a JSONL tracker file; a later record of a step wins."""
    rows: dict[int, dict] = {}
    if not Path(path).exists():
        return []
    for line in Path(path).read_text().splitlines():
        try:
            row = step_row(json.loads(line))
        except ValueError:
            continue
        if row is not None:
            rows[row["step"]] = row
    return [rows[s] for s in sorted(rows)]


def separate_designer_subdir(ckpt_dir: Path) -> Optional[str]:
    """The designer actor's folder in the latest checkpoint of a separate-parameters run, else None.

    With ``metaagent.parameters=separate`` a checkpoint holds verl's ``actor`` (the executor) and
    a second actor folder whose name contains ``designer``.
    """
    steps = sorted(Path(ckpt_dir).glob("global_step_*"),
                   key=lambda p: int(p.name.rsplit("_", 1)[-1]) if p.name.rsplit("_", 1)[-1].isdigit() else -1)
    if not steps:
        return None
    for sub in sorted(steps[-1].iterdir()):
        if sub.is_dir() and "designer" in sub.name and any(sub.glob("model_world_size_*_rank_*.pt")):
            return sub.name
    return None


def _fmt(value: Optional[float], spec: str = ".2f") -> str:
    return "  - " if value is None else format(value, spec)


def progress_line(row: dict, total_steps: int) -> str:
    """The per-step progress line printed while training."""
    return (
        f"[demo] step {row['step']:>3}/{total_steps}  trains {row['phase'] or '-':<8}  "
        f"reward: designer {_fmt(row['designer_reward'])}  executor {_fmt(row['executor_reward'])}  "
        f"designs: vote {_fmt(row['vote_share'])} single {_fmt(row['single_share'])} "
        f"other {_fmt(row.get('other_share'))} "
        f"valid {_fmt(row['design_valid_rate'])}  ({_fmt(row['step_seconds'], '.1f')} s)"
    )


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def summarize(rows: list[dict], window: int = 4) -> dict:
    """First-``window`` vs last-``window`` step means of each role's reward and the vote share."""
    window = max(1, min(window, len(rows) // 2 or 1))
    first, last = rows[:window], rows[-window:]
    out: dict = {"steps": len(rows), "window": window}
    for key in ("designer_reward", "executor_reward", "vote_share", "design_valid_rate"):
        a, b = _mean(r[key] for r in first), _mean(r[key] for r in last)
        out[key] = {"first": a, "last": b, "change": None if a is None or b is None else b - a}
    return out


def moving_average(values: list[Optional[float]], window: int) -> list[Optional[float]]:
    """Trailing mean over the last ``window`` non-missing values (None while there are none)."""
    out: list[Optional[float]] = []
    for i in range(len(values)):
        out.append(_mean(values[max(0, i - window + 1) : i + 1]))
    return out


def save_figure(fig, path: Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (parents made) and close it; returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot(rows: list[dict], path: Path, title: str = "MetaAgent-X CPU demo") -> Path:
    """Reward of each role (and the vote-design share) over steps, with the trained phase shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    colors = {"designer": "#f4c27a", "executor": "#9cc9f0", "both": "#c8e6c9"}
    labelled = set()
    for r in rows:
        phase = r["phase"]
        if phase in colors:
            ax.axvspan(r["step"] - 0.5, r["step"] + 0.5, color=colors[phase], alpha=0.35, lw=0,
                       label=None if phase in labelled else f"trains {phase}")
            labelled.add(phase)
    designer = [r["designer_reward"] for r in rows]
    executor = [r["executor_reward"] for r in rows]
    # drawn wide and underneath: with every design valid the two means coincide (docs/demo.md)
    ax.plot(steps, designer, "o-", color="#c0392b", lw=4, ms=9, alpha=0.45, label="designer reward")
    ax.plot(steps, executor, "s-", color="#1f5fa8", lw=1.5, ms=4, label="executor reward")
    ax.plot(steps, moving_average(executor, 4), "-", color="#0b2e59", lw=2.5, label="executor reward (4-step mean)")
    ax.plot(steps, [r["vote_share"] for r in rows], "^--", color="#555555", alpha=0.8, label="share of vote designs")
    ax.set_xlabel("training step")
    ax.set_ylabel("mean reward / share")
    ax.set_ylim(0, 1.05)
    ax.set_xlim(min(steps, default=0) - 0.5, max(steps, default=1) + 0.5)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, ncol=2)
    return save_figure(fig, path)
