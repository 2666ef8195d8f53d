"""CI smoke of the ablation runner: ``python -m verl_metaagent.ablate --quick`` (2 arms, 1 seed, 2 steps)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.verl_trainer
def test_quick_grid_runs_two_arms_through_verl_and_writes_the_report(tmp_path):
    out, report = tmp_path / "grid", tmp_path / "report"
    cmd = [sys.executable, "-m", "verl_metaagent.ablate", "--quick", "--out", str(out), "--report-dir", str(report)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = json.loads((report / "results.json").read_text())
    assert sorted(r["arm"] for r in records) == ["alternate", "m8n1"]
    for r in records:
        assert r["seed"] == 0 and r["steps"] == 2 and len(r["curve"]) == 2
        assert 0.0 <= r["final_reward"] <= 1.0
        assert r["trained"] == ["executor", "designer"]  # K = 2 steps // 4 phases -> 1: alternate every step
        assert r["policy_final"] and r["policy_warm_start"]
    m8n1 = next(r for r in records if r["arm"] == "m8n1")
    assert "metaagent.rollout.num_designs=8" in (out / "runs/m8n1/seed0/command.json").read_text()
    assert m8n1["settings"]["describe"].startswith("M=8 N=1")
    tables = (report / "tables.md").read_text()
    assert "| `alternate`" in tables and "| `m8n1`" in tables
    assert (report / "curves.png").stat().st_size > 1000
    # resumable: a second call finds both records and runs nothing
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("cached") == 2, again.stdout
