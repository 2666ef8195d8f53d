"""Step wall time of the v1 MetaAgent-X trainer: sync (``metaagent``) vs async rollout
(``metaagent_colocate_async``) at equal samples, on the CPU demo task through verl's stock launcher.

Both arms run ``examples/stock_main_ppo_cpu.sh`` with the same data, model, tree (M x N), batch and
steps; only ``trainer.v1.trainer_mode`` differs. Both train both roles every step
(``metaagent.phase.mode=simultaneous``, ``--phase-mode``): with alternating phases the async arm
trains nothing at the first step of each phase (its rows were dispatched in the previous phase), which
is the phase rule's cost, not the machinery's; ``skipped_steps`` reports it. The async arm keeps one
batch of trees growing (sandboxed executions, grading) while a step trains; its LLM requests are
paused during the update and resumed with the new weights. Reported: mean ``timing_s/step`` over
steps 2..S (step 1 includes warm-up), the rows trained per step, and the async/sync ratio. Prints one
JSON object.

    .venv/bin/python benchmarks/bench_trainer_modes.py [--steps 6] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "stock_main_ppo_cpu.sh"
MODES = ("metaagent", "metaagent_colocate_async")
#: keys of the printed JSON (tests/test_benchmarks_quick.py checks them) and of each ``arms`` entry
QUICK_KEYS = ("benchmark", "quick", "steps", "baseline", "arms")
MODE_KEYS = ("mode", "ok", "steps", "step_seconds_mean", "rows_per_step_mean", "skipped_steps")
#: --quick: one step of a tiny tree per arm (a smoke run: the numbers mean nothing)
QUICK_OVERRIDES = (
    "data.train_batch_size=2", "actor_rollout_ref.actor.ppo_mini_batch_size=2",
    "metaagent.rollout.num_designs=2", "metaagent.rollout.num_executions=1",
)


def run_arm(
    mode: str, out: Path, steps: int, phase_length: int, overrides: tuple = (), warmstart_steps: int = 300,
    phase_mode: str = "simultaneous",
) -> dict:
    env = dict(os.environ, PYTHON=sys.executable, LOOP="tree", STEPS=str(steps), K=str(phase_length), TRAINER_MODE=mode,
               WARMSTART_STEPS=str(warmstart_steps))
    started = time.monotonic()
    args = ["bash", str(SCRIPT), str(out), "trainer.save_freq=-1", f"metaagent.phase.mode={phase_mode}", *overrides]
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        return {"mode": mode, "ok": False, "error": proc.stderr[-2000:]}
    steps_seen: dict[int, dict] = {}
    for line in (out / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "training/global_step" in record.get("data", {}):
            steps_seen.setdefault(int(record["step"]), {}).update(record["data"])
    timed = [steps_seen[s].get("timing_s/step", 0.0) for s in sorted(steps_seen) if s >= 2] or [
        steps_seen[s].get("timing_s/step", 0.0) for s in sorted(steps_seen)
    ]
    skipped = sum(int(steps_seen[s].get("metaagent/train/skipped_empty_phase", 0)) for s in steps_seen)
    rows = [
        steps_seen[s].get("metaagent/all/rows_designer", 0) + steps_seen[s].get("metaagent/all/rows_executor", 0)
        for s in sorted(steps_seen)
    ]
    return {
        "mode": mode,
        "ok": True,
        "steps": len(steps_seen),
        "step_seconds_mean": statistics.fmean(timed),
        "step_seconds": [round(t, 2) for t in timed],
        "rows_per_step_mean": statistics.fmean(rows) if rows else 0.0,
        "skipped_steps": skipped,
        "launch_wall_seconds": round(wall, 1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--phase-length", type=int, default=2)
    p.add_argument("--phase-mode", default="simultaneous",
                   help="metaagent.phase.mode of both arms (alternate: see docstring)")
    p.add_argument("--quick", action="store_true",
                   help="1 step of a tiny tree per arm (CI smoke; numbers are not meaningful)")
    p.add_argument("--out", default=None, help="work dir (default: a temp dir)")
    args = p.parse_args(argv)
    steps = 1 if args.quick else args.steps
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_modes_"))
    quick = dict(overrides=QUICK_OVERRIDES, warmstart_steps=20) if args.quick else {}
    arms = {}
    for mode in MODES:
        if arms and (work / MODES[0] / "model").exists() and not (work / mode / "model").exists():
            shutil.copytree(work / MODES[0] / "model", work / mode / "model")  # one warm start for both arms
        arms[mode] = run_arm(mode, work / mode, steps, args.phase_length, phase_mode=args.phase_mode, **quick)
    result = {
        "benchmark": "trainer_modes",
        "quick": bool(args.quick),
        "steps": steps,
        "baseline": "metaagent (sync)",
        "arms": arms,
    }
    sync, async_ = arms["metaagent"], arms["metaagent_colocate_async"]
    if sync.get("ok") and async_.get("ok"):
        result["async_over_sync_step_time"] = async_["step_seconds_mean"] / sync["step_seconds_mean"]
    print(json.dumps(result, indent=1))
    return 0 if all(a.get("ok") for a in arms.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
