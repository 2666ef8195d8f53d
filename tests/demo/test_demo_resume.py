"""The demo end to end through verl on CPU: a 2-step run saves a checkpoint, ``--resume`` continues at step 3.

Two real launches of ``python -m verl_metaagent.main`` (Ray, FSDP2 actor, cpu rollout server) with a
small warm start and a small tree; the warm-started model is reused by the second launch. About
2-3 minutes on 2 cores.
"""

import json
import subprocess
import sys

import pytest

from verl_metaagent.demo import cli, report
from verl_metaagent.phases import PhaseConfig, phase_at

pytestmark = [pytest.mark.slow, pytest.mark.verl_trainer]

K = 2
SMALL = [
    "--warmstart-steps", "60", "--warmstart-batch", "32",
    "--batch-size", "2", "--rows-per-mini-batch", "16", "--designs", "2", "--executions", "1",
    "--phase-length", str(K), "--save-freq", "2", "--problems", "8", "--seed", "0",
]


def _steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]


def test_demo_runs_then_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "demo"
    assert cli.main(["--out", str(out), "--steps", "2", *SMALL]) == 0
    ckpts = out / "checkpoints"
    assert cli.latest_checkpoint_step(ckpts) == 2
    assert (ckpts / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    assert _steps(out / "metrics.jsonl") == [1, 2]
    warm_marker = (out / "model" / ".demo_warmstart.json").stat().st_mtime_ns

    assert cli.main(["--out", str(out), "--steps", "3", "--resume", *SMALL]) == 0
    # the resumed launch logged only step 3 = checkpointed step + 1; the demo's tracker file has 1, 2, 3
    assert _steps(out / "launch_metrics.jsonl") == [3]
    assert _steps(out / "metrics.jsonl") == [1, 2, 3]
    # the phase at the resumed step is the scheduler's: K=2, executor first -> step 3 trains the designer
    rows = {r["step"]: r for r in report.read_rows(out / "metrics.jsonl")}
    expected = phase_at(3, PhaseConfig(mode="alternate", phase_length=K, first_role="executor"))
    assert expected.active_roles == ("designer",)
    assert rows[3]["phase"] == "designer" and rows[3]["phase_index"] == expected.phase_index == 1
    assert (rows[1]["phase"], rows[2]["phase"]) == ("executor", "executor")
    # the checkpoint dir gained the new step; the warm start was reused, not redone
    assert cli.latest_checkpoint_step(ckpts) == 3
    assert (ckpts / "global_step_2").is_dir() and (ckpts / "global_step_3").is_dir()
    assert (ckpts / "latest_checkpointed_iteration.txt").read_text().strip() == "3"
    assert (out / "model" / ".demo_warmstart.json").stat().st_mtime_ns == warm_marker
    summary = json.loads((out / "summary.json").read_text())
    assert [r["step"] for r in summary["rows"]] == [1, 2, 3]
    assert (out / "reward.png").stat().st_size > 0

    # a trained checkpoint exports to Hugging Face with verl's own merger (docs/training.md), weight for weight
    _exported_weights_match(out / "model", ckpts / "global_step_3", tmp_path / "hf_step_3")


def _exported_weights_match(model_dir, checkpoint, target):
    import torch
    from transformers import AutoModelForCausalLM

    from verl_metaagent.demo.warmstart import load_policy

    merge = [sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
             "--local_dir", str(checkpoint / "actor"), "--target_dir", str(target)]
    done = subprocess.run(merge, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    exported = AutoModelForCausalLM.from_pretrained(target).state_dict()
    trained = load_policy(model_dir, checkpoint)[0].state_dict()
    assert set(exported) == set(trained)
    # verl's merger writes bfloat16 (the dtype of the real runs); our CPU actor trains in float32
    assert all(torch.equal(trained[k].to(exported[k].dtype), exported[k]) for k in trained)
    warm_start = load_policy(model_dir)[0].state_dict()
    assert any(not torch.equal(trained[k], warm_start[k]) for k in trained)  # the checkpoint was trained
