"""metaagent.parameters=separate end to end on CPU: the demo's tiny model through verl's v1 trainer.

Launch 1 runs steps 1-2 of an alternate K=1 schedule (step 1 trains the executor, step 2 the designer)
and checkpoints both steps; launch 2 resumes from step 2 and runs step 3 (executor). Asserted on the
checkpoints' tensors: each policy changes only in its own phases, both are saved, the resumed designer
is the saved designer (not the executor, not the warm start); and on the metrics: the designer's rows
of step 2 were answered by the designer's replicas, which did not get the executor's step-1 sync.
Two launches through Ray and a third, a shared-parameters resume, that the preflight refuses before Ray;
8.5 minutes measured on 2 busy cores when the third still started Ray, of which the demo warm start took 2.5.
"""

import json
from pathlib import Path

import pytest

from verl_metaagent.demo import cli

pytestmark = [pytest.mark.slow, pytest.mark.verl_trainer]

SMALL = [
    "--warmstart-steps", "60", "--warmstart-batch", "32",
    "--batch-size", "2", "--rows-per-mini-batch", "16", "--designs", "2", "--executions", "1",
    "--phase-length", "1", "--save-freq", "1", "--problems", "8", "--seed", "0",
    "--", "metaagent.parameters=separate",
]


def _weights(step_dir: Path, sub: str) -> dict:
    """The FSDP2 state dict (world size 1) of one policy of a checkpoint, as plain tensors."""
    import torch

    shards = sorted((step_dir / sub).glob("model_world_size_*_rank_*.pt"))
    assert len(shards) == 1, f"{step_dir / sub}: {shards}"
    state = torch.load(shards[0], map_location="cpu", weights_only=False)
    return {k: (v.to_local() if hasattr(v, "to_local") else v).detach().float().clone() for k, v in state.items()}


def _equal(a: dict, b: dict) -> bool:
    import torch

    assert a.keys() == b.keys()
    return all(torch.equal(a[k], b[k]) for k in a)


def _delta(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _records(path: Path) -> dict:
    return {r["step"]: r["data"] for r in map(json.loads, filter(str.strip, path.read_text().splitlines()))}


def test_separate_parameters_train_sync_checkpoint_and_resume(tmp_path):
    out = tmp_path / "demo"
    assert cli.main(["--out", str(out), "--steps", "2", *SMALL]) == 0
    ckpts = out / "checkpoints"
    s1, s2 = ckpts / "global_step_1", ckpts / "global_step_2"
    for step_dir in (s1, s2):
        for sub in ("actor", "designer_actor"):
            info = json.loads((step_dir / sub / "metaagent_run.json").read_text())
            assert info["parameters"] == "separate"
            assert info["role"] == ("designer" if sub == "designer_actor" else "executor")
    e1, d1 = _weights(s1, "actor"), _weights(s1, "designer_actor")
    e2, d2 = _weights(s2, "actor"), _weights(s2, "designer_actor")
    # step 1 (executor phase): the executor moved away from the common start, the designer did not move
    assert not _equal(e1, d1)
    # step 2 (designer phase): the designer changed, the executor is exactly frozen
    assert not _equal(d2, d1) and _equal(e2, e1)
    # two different policies now
    assert not _equal(d2, e2)

    metrics = _records(out / "launch_metrics.jsonl")
    assert metrics[1]["metaagent/sync/executor"] == 1.0 and metrics[1]["metaagent/sync/designer"] == 0.0
    assert metrics[2]["metaagent/sync/designer"] == 1.0 and metrics[2]["metaagent/sync/executor"] == 0.0
    # step 2's rows: executor calls answered by the executor's replica (synced after step 1), designs by the
    # designer's replica, which still serves the weights of its start-up sync (version 0): two sets of replicas
    assert metrics[2]["metaagent/policy_version/executor"] == 1.0
    assert metrics[2]["metaagent/policy_version/designer"] == 0.0
    # per-policy actor metrics do not overwrite each other; verl's actor/* stays meaningful
    assert any(k.startswith("actor_executor/") for k in metrics[1])
    assert not any(k.startswith("actor_designer/") for k in metrics[1])
    assert any(k.startswith("actor_designer/") for k in metrics[2]) and "actor/pg_loss" in metrics[2]

    # resume from step 2: step 3 trains the executor; the designer must be the saved designer, exactly
    assert cli.main(["--out", str(out), "--steps", "3", "--resume", *SMALL]) == 0
    s3 = ckpts / "global_step_3"
    e3, d3 = _weights(s3, "actor"), _weights(s3, "designer_actor")
    assert _equal(d3, d2)  # restored from designer_actor (neither the executor's weights nor the warm start)
    assert not _equal(e3, e2)  # the executor restored from actor/ and trained on
    resumed = _records(out / "launch_metrics.jsonl")
    assert sorted(resumed) == [3]
    assert resumed[3]["metaagent/sync/executor"] == 1.0 and resumed[3]["metaagent/sync/designer"] == 0.0
    print(f"max |weight delta|: executor step1 vs designer {_delta(e1, d1):.3g}, designer step2 {_delta(d2, d1):.3g}, "
          f"executor step3 {_delta(e3, e2):.3g}")

    # a shared-parameters run refuses to resume this checkpoint
    before = (out / "train.log").stat().st_size  # the demo appends a resumed launch's log
    proc_rc = cli.main(["--out", str(out), "--steps", "4", "--resume", *SMALL[:-2]])
    assert proc_rc != 0
    log = (out / "train.log").read_bytes()[before:].decode(errors="replace")
    assert "configuration error: metaagent.parameters is 'shared', but the checkpoint to resume" in log
    assert "Started a local Ray instance" not in log  # refused by the preflight, before Ray
