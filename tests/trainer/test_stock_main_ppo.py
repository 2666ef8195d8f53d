"""Slow end-to-end: MetaAgent-X through verl's *stock* ``python -m verl.trainer.main_ppo`` on the CPU platform.

``examples/stock_main_ppo_cpu.sh`` is the launch (the plugin flag + ``trainer.v1.trainer_mode=metaagent``,
or the designer-only agent loop on stock GRPO); these tests run it and read verl's JSONL file logger.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "stock_main_ppo_cpu.sh"
WARMSTART_STEPS = "300"  # the demo's warm start: executor answers vary (60 steps left every executor group flat)


@pytest.fixture(scope="module")
def warm_model(tmp_path_factory) -> Path:
    """The demo's warm-started tiny model, built once for the module (the script reuses a copy)."""
    out = tmp_path_factory.mktemp("warm")
    proc = subprocess.run(
        [sys.executable, "-m", "verl_metaagent.demo", "--prepare-only", "--out", str(out), "--warmstart-steps",
         WARMSTART_STEPS],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "model"


def run_stock(out: Path, loop: str, steps: int, *overrides: str, model: Path | None = None) -> dict[int, dict]:
    import shutil

    if model is not None and not (out / "model").exists():
        shutil.copytree(model, out / "model")
    env = dict(os.environ, PYTHON=sys.executable, LOOP=loop, STEPS=str(steps), K="2", WARMSTART_STEPS=WARMSTART_STEPS)
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(out), *overrides], env=env, capture_output=True, text=True, timeout=900
    )
    log = (out / "train.log").read_text(errors="replace") if (out / "train.log").exists() else ""
    assert proc.returncode == 0, proc.stderr[-3000:] + log[-6000:]
    steps_seen: dict[int, dict] = {}
    for line in (out / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        data = record.get("data", {})
        if "training/global_step" in data or any(k.startswith("val-core/") for k in data):
            steps_seen.setdefault(int(record["step"]), {}).update(data)
    return steps_seen


@pytest.mark.slow
@pytest.mark.verl_trainer
def test_stock_launch_runs_the_whole_method_then_resumes_mid_phase(tmp_path, warm_model):
    """4 steps, K=2: steps 1-2 train the executor, 3-4 the designer, from stock main_ppo; then a second
    launch resumes from the step-2 checkpoint (save_freq=2) and continues at step 3, in the designer phase."""
    out = tmp_path / "run"
    steps = run_stock(out, "tree", 4, "trainer.val_before_train=true", model=warm_model)
    # verl's validation before training ran through the tree (one design, executed once, greedy)
    assert 0.0 <= steps.pop(0)["val-core/math/demo_arith/reward/mean@1"] <= 1.0
    assert sorted(steps) == [1, 2, 3, 4]
    for step, role, other in ((1, "executor", "designer"), (2, "executor", "designer"), (3, "designer", "executor"),
                              (4, "designer", "executor")):
        m = steps[step]
        assert m[f"metaagent/phase/trains_{role}"] == 1.0 and m[f"metaagent/phase/trains_{other}"] == 0.0
        # the tree: 4 problems x 2 designs, each design executed twice
        assert m["metaagent/all/rows_designer"] == 8.0
        assert m["metaagent/all/rows_executor"] >= 16.0
        assert m[f"metaagent/train/rows_{role}"] == m[f"metaagent/all/rows_{role}"]
        assert m[f"metaagent/train/rows_{other}"] == 0.0
        assert 0.0 <= m["metaagent/reward/executor/math/demo_arith/mean"] <= 1.0
        # the rows were rolled out by the policy through verl's server and graded in the sandbox
        assert m["metaagent/rollout/design_valid_rate"] > 0
    # each phase trained on non-zero advantages at least once (a step whose groups are all flat, i.e.
    # every execution of a problem scored the same, has nothing to learn: grad norm 0 is right there)
    for role, phase_steps in (("executor", (1, 2)), ("designer", (3, 4))):
        assert any(steps[s][f"metaagent/all/{role}/adv_std"] > 0 and steps[s]["actor/grad_norm"] > 0
                   for s in phase_steps)
    assert sorted(p.name for p in (out / "checkpoints").glob("global_step_*")) == ["global_step_2", "global_step_4"]
    # every checkpoint says which designer prompt it was trained with (trainer/provenance.py)
    record = json.loads((out / "checkpoints" / "global_step_2" / "actor" / "metaagent_run.json").read_text())
    assert (record["prompt_variant"], record["stage"], record["global_step"]) == ("short", "rl", 2)

    # resume mid-phase: continue the same run from global_step_2 to step 3 (designer phase, step 0 of it)
    import shutil

    shutil.rmtree(out / "checkpoints" / "global_step_4")
    (out / "checkpoints" / "latest_checkpointed_iteration.txt").write_text("2")
    resumed = run_stock(out, "tree", 3, "trainer.resume_mode=auto")
    assert sorted(resumed) == [3]
    assert resumed[3]["metaagent/phase/trains_designer"] == 1.0
    assert resumed[3]["metaagent/phase/step_in_phase"] == 0.0


@pytest.mark.slow
@pytest.mark.verl_trainer
def test_stock_grpo_with_the_designer_only_loop(tmp_path, warm_model):
    """verl's stock GRPO (sync v1 mode) with ``default_agent_loop=metaagent_designer``: 2 steps, one row per design."""
    steps = run_stock(tmp_path / "run", "designer", 2, model=warm_model)
    assert sorted(steps) == [1, 2]
    assert any(m["actor/grad_norm"] > 0 for m in steps.values())
    for m in steps.values():
        assert 0.0 <= m["critic/score/mean"] <= 1.0
        assert m["training/off_policy/trajectory_staleness/max"] == 0.0  # v1's staleness fields are filled
    # the cpu rollout's logprobs match the FSDP engine's recomputation (measured 1.4e-3 on ~60-token
    # designs; a wrong temperature or misaligned tokens gives 0.1 and more)
    assert steps[2]["training/rollout_probs_diff_mean"] < 1e-2
