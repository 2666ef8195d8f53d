"""Arms, the run command, records and the report, on synthetic tracker files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verl_metaagent.ablate import arms as arms_mod
from verl_metaagent.ablate.record import build_record, design_entropy, policy_summary
from verl_metaagent.ablate.report import write_report
from verl_metaagent.ablate.runner import demo_command, parse_args
from verl_metaagent.demo import family


def test_every_arm_differs_from_the_baseline_in_what_it_names_only():
    base = arms_mod.ARMS[arms_mod.BASELINE]
    k = arms_mod.scaled_phase_length(20)
    assert k == 5
    for arm in arms_mod.ARMS.values():
        if arm.name == base.name:
            continue
        differs = (arm.demo_args(k) != base.demo_args(k)) or bool(arm.overrides)
        assert differs, arm.name
    assert arms_mod.ARMS["m8n1"].designs * arms_mod.ARMS["m8n1"].executions == base.designs * base.executions
    assert "metaagent.parameters=separate" in arms_mod.ARMS["separate"].overrides
    assert arms_mod.ARMS["k1"].demo_args(k)[-1] == "1"


def test_select_arms_names_the_choices_on_a_typo():
    assert [a.name for a in arms_mod.select_arms("k1, m8n1")] == ["k1", "m8n1"]
    assert len(arms_mod.select_arms(None)) == len(arms_mod.ARMS)
    with pytest.raises(ValueError, match="unknown arm 'kl'.*alternate"):
        arms_mod.select_arms("kl")


def test_demo_command_puts_arm_overrides_after_the_separator(tmp_path):
    args = parse_args(["--out", str(tmp_path), "--steps", "8", "--", "trainer.foo=1"])
    cmd = demo_command(args, arms_mod.ARMS["flat_grpo"], 2, tmp_path)
    sep = cmd.index("--")
    assert cmd[sep + 1:] == ["metaagent.advantage.mode=flat_grpo", "metaagent.phase.mode=simultaneous", "trainer.foo=1"]
    assert cmd[cmd.index("--seed") + 1] == "2" and cmd[cmd.index("--phase-length") + 1] == "2"
    assert cmd[cmd.index("--task") + 1] == "family"
    quick = parse_args(["--quick"])
    assert quick.steps == 2 and quick.seeds == "0" and len(quick.arms.split(",")) == 2


def _probs(best: float) -> dict:
    out = {}
    for kind in family.KINDS:
        for d in family.DESIGNS:
            out[f"p_design_{d}_{kind}"] = best if d == family.best_design(kind) else (0.9 - best) / 2
        for call in ("direct", "first", "rest"):
            out[f"p_call_{call}_{kind}"] = 0.5
    return out


def _write_run(out: Path, arm: str, seed: int, rewards: list[float]) -> None:
    rdir = out / "runs" / arm / f"seed{seed}"
    rdir.mkdir(parents=True)
    lines = []
    for step, r in enumerate(rewards, 1):
        data = {"training/global_step": step, "metaagent/rollout/designer_reward_mean": r,
                "metaagent/rollout/executor_reward_mean": r, "metaagent/rollout/design_valid_rate": 1.0,
                "metaagent/rollout/calls_per_execution": 2.0, "metaagent/phase/trains_executor": 1.0,
                "metaagent/phase/trains_designer": 0.0, "metaagent/rollout/pattern/ensemble": 0.5}
        for kind in family.KINDS:
            data[f"metaagent/reward/designer/math/family_{kind}/mean"] = r
        lines.append(json.dumps({"step": step, "data": data}))
    (rdir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    summary = {"policy": {"warm_start": _probs(0.3), "final": _probs(0.6)}}
    record = build_record(arm=arm, seed=seed, summary=summary, metrics_path=rdir / "metrics.jsonl", settings={})
    (rdir / "record.json").write_text(json.dumps(record))


def test_record_final_values_are_means_of_the_last_four_steps(tmp_path):
    _write_run(tmp_path, "alternate", 0, [0.1] * 4 + [0.2, 0.4, 0.6, 0.8])
    rec = json.loads((tmp_path / "runs/alternate/seed0/record.json").read_text())
    assert rec["final_reward"] == pytest.approx(0.5) and rec["first_reward"] == pytest.approx(0.1)
    assert rec["final_reward_by_kind"]["multi"] == pytest.approx(0.5)
    assert rec["curve"] == [0.1] * 4 + [0.2, 0.4, 0.6, 0.8] and rec["trained"][0] == "executor"
    assert rec["final_pattern_share"] == {"single": 0.0, "ensemble": 0.5, "other": 0.0}
    assert rec["policy_final_summary"]["p_best_design"] == pytest.approx(0.6)


def test_design_entropy_and_shares():
    uniform = {f"p_design_{d}_easy": 0.2 for d in family.DESIGNS}
    assert design_entropy(uniform, "easy") == pytest.approx(1.0986, abs=1e-3)
    assert design_entropy({"p_design_single_easy": 0.5, "p_design_vote_easy": 0.0, "p_design_decompose_easy": 0.0},
                          "easy") == 0.0
    summary = policy_summary(_probs(0.6))
    assert summary["share_multi"]["decompose"] == pytest.approx(0.6 / 0.9)
    assert summary["p_valid_design"] == pytest.approx(0.9)
    # the best design's renormalised share, the same for every kind here: 0.6 of the 0.9 the three designs hold
    from verl_metaagent.ablate.report import best_design_share

    assert best_design_share(summary) == pytest.approx(0.6 / 0.9)
    assert best_design_share(policy_summary(_probs(0.3))) == pytest.approx(0.3 / 0.9)
    assert best_design_share(None) is None


def test_report_flags_an_arm_separated_from_the_baseline(tmp_path):
    for seed in range(3):
        _write_run(tmp_path, "alternate", seed, [0.3] * 4 + [0.70 + 0.01 * seed] * 4)
        _write_run(tmp_path, "k1", seed, [0.3] * 4 + [0.40 + 0.01 * seed] * 4)
        _write_run(tmp_path, "m8n1", seed, [0.3] * 4 + [0.60 + 0.15 * seed] * 4)
    paths = write_report(tmp_path, tmp_path / "report", ["alternate", "k1", "m8n1"], [0, 1, 2])
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert isinstance(results, list) and len(results) == 9
    assert {"arm", "seed", "final_reward", "curve"} <= set(results[0])
    tables = (tmp_path / "report" / "tables.md").read_text()
    k1_row = next(line for line in tables.splitlines() if line.startswith("| `k1`"))
    m8_row = next(line for line in tables.splitlines() if line.startswith("| `m8n1`"))
    assert "-0.300" in k1_row and "**separated**" in k1_row
    assert "**separated**" not in m8_row
    assert any(p.name == "curves.png" and p.stat().st_size > 1000 for p in paths)


def test_findings_say_which_arms_separate(tmp_path):
    for seed in range(3):
        _write_run(tmp_path, "alternate", seed, [0.3] * 4 + [0.70 + 0.01 * seed] * 4)
        _write_run(tmp_path, "k1", seed, [0.3] * 4 + [0.40 + 0.01 * seed] * 4)
        _write_run(tmp_path, "simultaneous", seed, [0.3] * 4 + [0.55 + 0.2 * seed] * 4)
    write_report(tmp_path, tmp_path / "r", ["alternate", "k1", "simultaneous"], [0, 1, 2])
    text = (tmp_path / "r" / "tables.md").read_text()
    assert "- `k1` (paper: 1-step switching collapses): Welch: lower than the baseline, -0.300" in text
    # simultaneous: per-seed differences -0.15, +0.04, +0.23 -> not separated either way
    assert "- `simultaneous` (paper: stagewise beats simultaneous): Welch: not separated" in text
    assert "paired by seed (3 seeds): not separated" in text.split("- `simultaneous`")[1]


def test_a_seed_effect_hides_a_gap_from_welch_but_not_from_the_paired_difference(tmp_path):
    """Every arm of a seed shares its warm start: a seed that lifts every arm cancels per seed."""
    for seed, lift in enumerate([0.0, 0.2, 0.4]):
        _write_run(tmp_path, "alternate", seed, [0.3] * 4 + [0.30 + lift] * 4)
        _write_run(tmp_path, "k1", seed, [0.3] * 4 + [0.20 + lift + 0.01 * seed] * 4)
    write_report(tmp_path, tmp_path / "r", ["alternate", "k1"], [0, 1, 2])
    text = (tmp_path / "r" / "tables.md").read_text()
    k1_row = next(line for line in text.splitlines() if line.startswith("| `k1`"))
    welch_cell, paired_cell = k1_row.split(" | ")[3:5]
    assert welch_cell.startswith("-0.090") and "separated" not in welch_cell
    assert paired_cell.startswith("-0.090") and paired_cell.endswith("**separated**")
    assert "Welch: not separated, -0.090" in text
    assert "paired by seed (3 seeds): lower than the baseline, -0.090" in text


def test_a_run_held_by_a_live_runner_is_skipped_not_restarted(tmp_path):
    import os

    from verl_metaagent.ablate.runner import run_one

    args = parse_args(["--out", str(tmp_path)])
    rdir = tmp_path / "runs" / "k1" / "seed0"
    rdir.mkdir(parents=True)
    (rdir / "demo.log").write_text("in progress")
    (rdir.parent / "seed0.lock").write_text(str(os.getppid()))  # a live process that is not us
    assert run_one(args, arms_mod.ARMS["k1"], 0, tmp_path) == {"skipped_for": os.getppid()}
    assert (rdir / "demo.log").read_text() == "in progress"


def test_runners_sharing_an_out_build_each_warm_start_once_and_never_together(tmp_path, monkeypatch):
    """Two runners reaching the same seed at once: one builds, the other waits and reuses it."""
    import threading
    import time

    from verl_metaagent.ablate import runner
    from verl_metaagent.demo import warmstart

    active, overlaps, builds = [0], [0], []
    guard = threading.Lock()

    def fake_warm_start(out_dir, cfg, **_):
        done = (out_dir / "done").exists()
        with guard:
            active[0] += 1
            overlaps[0] += active[0] > 1
        if not done:
            time.sleep(0.2)
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "done").write_text(str(cfg.seed))
            builds.append(cfg.seed)
        with guard:
            active[0] -= 1
        return str(out_dir), {}

    monkeypatch.setattr(warmstart, "warm_start", fake_warm_start)
    results = []
    threads = [threading.Thread(target=lambda: results.append(runner._shared_warm_start(tmp_path, 1, 5)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps[0] == 0
    assert builds == [1]
    assert results == [tmp_path / "warmstart" / "seed1"] * 3


def test_import_results_takes_only_runs_made_with_the_same_settings(tmp_path):
    from verl_metaagent.ablate import runner
    from verl_metaagent.ablate.arms import ARMS

    args = runner.parse_args(["--out", str(tmp_path / "new")])
    made_elsewhere = tmp_path / "old"
    same = {"arm": "k1", "seed": 1, "final_reward": 0.5,
            "settings": {"command": ["/other/python", *runner.demo_command(args, ARMS["k1"], 1, made_elsewhere)[1:]]}}
    fewer_steps = runner.parse_args(["--steps", "8"])
    other = {"arm": "m8n1", "seed": 0, "final_reward": 0.4,
             "settings": {"command": runner.demo_command(fewer_steps, ARMS["m8n1"], 0, made_elsewhere)}}
    unknown = {"arm": "no_such_arm", "seed": 0}
    results = tmp_path / "results.json"
    results.write_text(json.dumps([same, other, unknown]))

    out = tmp_path / "new"
    imported, refused = runner.import_results(args, results, out)
    assert imported == 1
    assert json.loads((out / "runs" / "k1" / "seed1" / "record.json").read_text())["final_reward"] == 0.5
    assert not (out / "runs" / "m8n1").exists()
    assert refused == ["m8n1/seed0 (made with other settings)", "no_such_arm/seed0 (not an arm of this runner)"]
    # a record already there is kept
    same["final_reward"] = 0.9
    results.write_text(json.dumps([same]))
    assert runner.import_results(args, results, out) == (0, [])
    assert json.loads((out / "runs" / "k1" / "seed1" / "record.json").read_text())["final_reward"] == 0.5
