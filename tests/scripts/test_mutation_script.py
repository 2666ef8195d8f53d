"""scripts/mutation_test.py without running mutmut: its groups name real files, and its bookkeeping
(changed line, equivalents, kill rates, report) is right. The mutation run itself is not in CI."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("mutation_test", ROOT / "scripts" / "mutation_test.py")
mt = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mt  # dataclasses look their module up
spec.loader.exec_module(mt)

DIFF = """--- verl_metaagent/phases.py
+++ verl_metaagent/phases.py
@@ -1,3 +1,3 @@
-    step0 = max(int(global_step), 1) - 1
+    step0 = max(int(global_step), 2) - 1
"""


def test_groups_name_existing_modules_and_tests():
    assert set(mt.GROUPS) == {"advantage", "phases", "trainer", "tree_rows", "reward_compare", "distill"}
    for files, tests in mt.GROUPS.values():
        assert files and tests
        assert all((ROOT / f).is_file() for f in files + tests), (files, tests)


def test_changed_line():
    assert mt.changed_line(DIFF) == "step0 = max(int(global_step), 2) - 1"
    assert mt.changed_line("no diff") == ""


def test_rates_and_report():
    r = mt.GroupResult("phases", counts={"killed": 7, "timeout": 1, "survived": 1, "no tests": 1})
    r.survivors = [
        {"mutant": "m1", "status": "survived", "diff": DIFF, "change": "x", "why": "equivalent: same value"},
        {"mutant": "m2", "status": "no tests", "diff": DIFF, "change": "y", "why": None},
    ]
    assert (r.total, r.killed, r.equivalent) == (10, 8, 1)
    assert r.rate(without_equivalents=False) == 0.8 and r.rate(without_equivalents=True) == 8 / 9
    text = mt.report([r], target=0.9)
    assert "phases" in text and "80.0%" in text and "88.9%" in text
    assert "m1 (survived) -- equivalent: equivalent: same value" in text and "m2 (no tests) -- NOT KILLED" in text
    assert text.endswith("missed by phases")
    assert mt.report([mt.GroupResult("g", counts={"killed": 1})], target=0.9).endswith("met")
    assert mt.GroupResult("empty").rate(without_equivalents=True) == 1.0


def test_equivalents_file_entries_have_a_reason(tmp_path):
    entries = mt.load_equivalents()
    assert entries, "scripts/mutation_equivalents.json lists the survivors judged equivalent"
    for name, entry in entries.items():
        assert entry["mutant"] == name and entry["change"] and len(entry["why"]) > 10, entry
        assert any(name.startswith(f.replace("/", ".")[:-3]) for files, _ in mt.GROUPS.values() for f in files)
    path = tmp_path / "eq.json"
    path.write_text(json.dumps([{"mutant": "a", "change": "b", "why": "c"}]))
    assert mt.load_equivalents(path) == {"a": {"mutant": "a", "change": "b", "why": "c"}}
    assert mt.load_equivalents(tmp_path / "missing.json") == {}


def test_unknown_group_is_refused(capsys):
    with pytest.raises(SystemExit):
        mt.main(["--only", "nope"])
    assert "unknown group" in capsys.readouterr().err
