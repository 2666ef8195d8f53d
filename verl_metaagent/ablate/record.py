"""One run's record for ``results.json``, from the demo's ``summary.json`` and verl's JSONL tracker (pure)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

from verl_metaagent.demo.family import DESIGNS, KINDS, SOURCE_PREFIX, best_design

#: Steps averaged for the "final" values.
FINAL_WINDOW = 4


def _mean(values) -> Optional[float]:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def read_steps(metrics_path: Path) -> dict[int, dict]:
    """``step -> metrics`` of every training step in a verl JSONL tracker file (a later record of a step wins)."""
    steps: dict[int, dict] = {}
    if not Path(metrics_path).exists():
        return steps
    for line in Path(metrics_path).read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        data = rec.get("data", rec) if isinstance(rec, dict) else None
        if isinstance(data, dict) and "training/global_step" in data:
            steps[int(data["training/global_step"])] = data
    return steps


def design_entropy(probs: dict, kind: str) -> Optional[float]:
    """Entropy (nats) of the designer's choice among :data:`DESIGNS` on ``kind`` items, renormalised
    over the three designs (``ln 3`` = uniform, 0 = one design always)."""
    ps = [probs.get(f"p_design_{d}_{kind}") for d in DESIGNS]
    if any(p is None for p in ps) or sum(ps) <= 0:
        return None
    total = sum(ps)
    return -sum(p / total * math.log(p / total) for p in ps if p > 0)


def policy_summary(probs: Optional[dict]) -> Optional[dict]:
    """Headline numbers of one set of teacher-forced probabilities (``family`` probes)."""
    if not probs:
        return None
    out: dict = {}
    out["p_best_design"] = _mean(probs.get(f"p_design_{best_design(k)}_{k}") for k in KINDS)
    out["p_valid_design"] = _mean(sum(probs.get(f"p_design_{d}_{k}", 0.0) for d in DESIGNS) for k in KINDS)
    out["p_call_correct"] = _mean(v for key, v in probs.items() if key.startswith("p_call_"))
    out["design_entropy"] = _mean(design_entropy(probs, k) for k in KINDS)
    for kind in KINDS:
        total = sum(probs.get(f"p_design_{d}_{kind}", 0.0) for d in DESIGNS) or 1.0
        out[f"share_{kind}"] = {d: probs.get(f"p_design_{d}_{kind}", 0.0) / total for d in DESIGNS}
    return out


def build_record(*, arm: str, seed: int, summary: dict, metrics_path: Path, settings: dict) -> dict:
    """The record of one finished run (``results.json`` entry)."""
    steps = read_steps(metrics_path)
    order = sorted(steps)
    last = order[-FINAL_WINDOW:]

    def series(key: str) -> list:
        return [steps[s].get(key) for s in order]

    def final(key: str) -> Optional[float]:
        return _mean(steps[s].get(key) for s in last)

    curve = series("metaagent/rollout/designer_reward_mean")
    policy = summary.get("policy") or {}
    return {
        "arm": arm,
        "seed": seed,
        "steps": len(order),
        "final_reward": final("metaagent/rollout/designer_reward_mean"),
        "first_reward": _mean(curve[:FINAL_WINDOW]),
        "final_reward_by_kind": {k: final(f"metaagent/reward/designer/{SOURCE_PREFIX}{k}/mean") for k in KINDS},
        "final_valid_rate": final("metaagent/rollout/design_valid_rate"),
        "final_calls_per_execution": final("metaagent/rollout/calls_per_execution"),
        "final_pattern_share": {p: final(f"metaagent/rollout/pattern/{p}") or 0.0
                                for p in ("single", "ensemble", "other")},
        "curve": curve,
        "executor_curve": series("metaagent/rollout/executor_reward_mean"),
        "trained": [
            "both" if st.get("metaagent/phase/trains_designer") and st.get("metaagent/phase/trains_executor")
            else "designer" if st.get("metaagent/phase/trains_designer")
            else "executor" if st.get("metaagent/phase/trains_executor") else None
            for st in (steps[s] for s in order)
        ],
        "actor_entropy": series("actor/entropy"),
        "policy_warm_start": policy.get("warm_start"),
        "policy_final": policy.get("final"),
        "policy_warm_start_summary": policy_summary(policy.get("warm_start")),
        "policy_final_summary": policy_summary(policy.get("final")),
        "settings": settings,
    }
