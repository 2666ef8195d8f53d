"""Metrics, table and analysis on hand-made records (every number checkable by hand)."""

import pytest

from verl_metaagent.eval.analysis import difficulty_bucket, pattern_counts, render_analysis_markdown, solve_rates
from verl_metaagent.eval.metrics import avg_at_k, pass_at_k, summarize_cells, summarize_systems
from verl_metaagent.eval.systems import matched_sc_k
from verl_metaagent.eval.table import render_csv, render_long_csv, render_markdown


def rec(system, bench, pid, sample, correct, calls=1, tokens=10, pattern=None, sc_k=None):
    r = {"system": system, "benchmark": bench, "problem_id": pid, "sample": sample, "correct": correct,
         "reward": 1.0 if correct else 0.0, "llm_calls": calls, "tokens": tokens, "prompt_tokens": tokens // 2,
         "completion_tokens": tokens - tokens // 2, "sc_k": sc_k, "designs": []}
    if pattern:
        r["designs"] = [{"pattern": pattern, "valid": pattern != "invalid", "designed": True, "agents_used": 2,
                         "calls_per_execution": calls - 1, "reward": 1.0 if correct else 0.0}]
    return r


def test_avg_at_k_and_pass_at_k():
    assert avg_at_k({"a": [1, 0, 0, 1], "b": [1, 1, 1, 1], "c": [0, 0, 0, 0]}) == pytest.approx(0.5)
    assert avg_at_k({}) == 0.0
    # n=4, c=1, k=2: 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(4, 1, 2) == 0.5
    assert pass_at_k(4, 0, 2) == 0.0 and pass_at_k(4, 3, 2) == 1.0 and pass_at_k(1, 1, 1) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(2, 3, 1)


def test_matched_sc_k_rounds_half_up():
    assert matched_sc_k([4, 4, 4, 1]) == 3  # 3.25
    assert matched_sc_k([2, 3]) == 3  # 2.5 -> 3 (Python's round would give 2)
    assert matched_sc_k([1, 0]) == 1 and matched_sc_k([]) is None


def test_cells_and_systems_by_hand():
    records = [
        # system A on b1: p1 two samples (1, 0), p2 (1, 1) -> avg@2 = (0.5 + 1) / 2 = 0.75
        rec("A", "b1", "p1", 0, True, calls=2, tokens=100), rec("A", "b1", "p1", 1, False, calls=2, tokens=100),
        rec("A", "b1", "p2", 0, True, calls=4, tokens=300), rec("A", "b1", "p2", 1, True, calls=4, tokens=300),
        # system A on b2: one problem, wrong twice -> 0
        rec("A", "b2", "q1", 0, False, calls=1, tokens=50), rec("A", "b2", "q1", 1, False, calls=1, tokens=50),
    ]
    cells = summarize_cells(records)
    b1 = cells[("A", "b1")]
    assert (b1.problems, b1.attempts, b1.samples, b1.accuracy, b1.solved) == (2, 4, 2, 0.75, 3)
    assert b1.pass_at_k == 1.0  # both problems solved at least once in 2
    assert (b1.calls, b1.tokens, b1.tokens_per_solved, b1.calls_per_solved) == (3.0, 200.0, 800 / 3, 12 / 3)
    b2 = cells[("A", "b2")]
    assert (b2.accuracy, b2.tokens_per_solved, b2.calls_per_solved) == (0.0, None, None)
    s = summarize_systems(records)["A"]
    # macro accuracy (0.75 + 0) / 2; pooled cost 14 calls / 6 attempts, 900 tokens / 3 solved
    assert (s.accuracy, s.calls, s.tokens, s.tokens_per_solved, s.benchmarks) == (0.375, 14 / 6, 150.0, 300.0,
                                                                                  ["b1", "b2"])


def test_table_layout_dashes_and_partial_average():
    records = [rec("single_agent", "aime24", "1", 0, True), rec("single_agent", "apps", "1", 0, False),
               rec("ref:debate", "aime24", "1", 0, True, calls=5, tokens=40),
               rec("metaagent", "aime24", "1", 0, True, calls=3, pattern="ensemble"),
               rec("metaagent", "apps", "1", 0, True, calls=2, pattern="code_test"),
               rec("my_system", "custom", "1", 0, True)]
    table = render_markdown(records, title="T")
    head = "| Method | AIME24 | APPS | custom | Avg. | LLM calls / problem | tokens / problem | tokens / solved |"
    assert head in table
    assert "| Fixed: debate (debate) | 100.00 | - | - | 100.00 † | 5.00 | 40 | 40 |" in table
    assert "| MetaAgent-X (design + execute) | 100.00 | 100.00 | - | 100.00 † | 2.50 | 10 | 10 |" in table
    assert "| Single agent | 100.00 | 0.00 | - | 50.00 † | 1.00 | 10 | 20 |" in table
    assert (table.index("Single agent") < table.index("Fixed: debate") < table.index("MetaAgent-X")
            < table.index("my_system"))
    assert render_csv(records).splitlines()[0].startswith(
        "system,label,aime24_accuracy,apps_accuracy,custom_accuracy,avg_accuracy")
    assert "metaagent,apps,1,1,1,1.0,1.0,1,2.0,10.0" in render_long_csv(records)
    assert render_markdown([]) .endswith("No records yet.\n")


def test_untrusted_labels_cannot_break_the_table():
    table = render_markdown([rec("a|b\nc", "x|y", "1", 0, True)])
    assert "a\\|b c" in table and "x\\|y" in table


def test_difficulty_buckets_and_pattern_counts():
    assert [difficulty_bucket(x) for x in (1.0, 0.5, 0.0, None)] == ["easy", "medium", "hard", "unknown"]
    records = [rec("single_agent", "b", "1", 0, True), rec("single_agent", "b", "1", 1, True),
               rec("single_agent", "b", "2", 0, True), rec("single_agent", "b", "2", 1, False),
               rec("single_agent", "b", "3", 0, False), rec("single_agent", "b", "3", 1, False),
               rec("metaagent", "b", "1", 0, True, pattern="single"),
               rec("metaagent", "b", "2", 0, True, pattern="ensemble"),
               rec("metaagent", "b", "3", 0, False, pattern="debate"),
               rec("metaagent", "b", "4", 0, False, pattern="invalid")]
    assert solve_rates(records) == {("b", "1"): 1.0, ("b", "2"): 0.5, ("b", "3"): 0.0}
    assert pattern_counts(records, by="difficulty") == {"easy": {"single": 1}, "medium": {"ensemble": 1},
                                                        "hard": {"debate": 1}, "unknown": {"invalid": 1}}
    text = render_analysis_markdown(records)
    assert "| easy | 1 | 100.0% |" in text and "| MetaAgent-X (design + execute) | 2/4 |" in text
    with pytest.raises(ValueError, match="by must be"):
        pattern_counts(records, by="nope")
