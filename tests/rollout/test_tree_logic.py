"""Pure tree logic: ids, seeds, design rewards, multi-turn row merging, row caps, config errors."""

import pytest

from verl_metaagent.contract import design_uid, exec_uid
from verl_metaagent.rollout.config import load_rollout_config
from verl_metaagent.rollout.tree import (
    CallTokens,
    calls_to_trajectories,
    cap_rows,
    derive_seed,
    design_reward,
    majority_answer,
)
from verl_metaagent.utils.config_utils import ConfigError


def test_ids_and_seeds_are_stable():
    assert design_uid("p7", 2) == "p7/d2"
    assert exec_uid("p7", 2, 3) == "p7/d2/e3"
    assert derive_seed(0, 5, "p7", 2) == derive_seed(0, 5, "p7", 2)
    assert derive_seed(0, 5, "p7", 2) != derive_seed(0, 5, "p7", 3)
    assert derive_seed(1, 5, "p7", 2) != derive_seed(0, 5, "p7", 2)
    assert 0 <= derive_seed(123, "x") < 2**31
    # fixed value: guards against accidental use of the salted builtin hash()
    assert derive_seed(0, "a") == int.from_bytes(__import__("hashlib").sha256(repr((0, "a")).encode()).digest()[:4],
                                                 "little") & 0x7FFFFFFF


def test_design_reward():
    assert design_reward([1.0, 0.0, 1.0, 1.0], valid=True, invalid_reward=-1.0) == pytest.approx(0.75)
    assert design_reward([], valid=False, invalid_reward=-1.0) == -1.0
    assert design_reward([1.0, 0.0], valid=True, invalid_reward=0.0, valid_bonus=0.1) == pytest.approx(0.6)


def test_design_reward_of_an_invalid_design_is_the_format_reward_alone():
    """The valid-design bonus is for valid designs only; an invalid design (or one without executions)
    gets exactly the format reward, whatever its executions scored."""
    assert design_reward([1.0, 1.0], valid=False, invalid_reward=0.1, valid_bonus=0.5) == 0.1
    assert design_reward([], valid=True, invalid_reward=0.1, valid_bonus=0.5) == 0.1
    assert design_reward([0.5], valid=True, invalid_reward=0.1, valid_bonus=0.5) == 1.0
    assert isinstance(design_reward([1], valid=True, invalid_reward=0), float)
    assert isinstance(design_reward([1], valid=False, invalid_reward=0), float)


def test_derive_seed_uses_every_part_and_31_bits():
    seeds = {derive_seed(7, step, "index:0", j, k, c) for step in (1, 2) for j in range(3) for k in range(3)
             for c in range(3)}
    assert len(seeds) == 54
    assert derive_seed(7, 1, "index:0", 0) != derive_seed(7, 1, "index:1", 0)
    big = [derive_seed(s, "x") for s in range(200)]
    assert max(big) >= 2**30 and all(0 <= v < 2**31 for v in big)  # uses the 31st bit, never the 32nd
    assert derive_seed("3", "x") == derive_seed(3, "x")  # the base seed is an int whatever its type


def test_multi_turn_merge_fits_exactly_at_the_response_limit():
    """A merged row whose response is exactly ``max_response_length`` long is still one row; one token more
    opens a new row."""
    calls = [CallTokens("a", [1, 2], [3]), CallTokens("a", [1, 2, 3, 4], [5, 6])]  # merged response: 3, 4, 5, 6
    rows, dropped = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=8, max_response_length=4)
    assert dropped == 0 and [r.response_ids for r in rows] == [[3, 4, 5, 6]]
    rows, dropped = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=8, max_response_length=3)
    assert dropped == 0 and [r.response_ids for r in rows] == [[3], [5, 6]]


def test_single_calls_fit_exactly_at_both_limits():
    exact = [CallTokens("a", [1, 2, 3], [4, 5])]
    rows, dropped = calls_to_trajectories(exact, merge_multi_turn=False, max_prompt_length=3, max_response_length=2)
    assert dropped == 0 and rows[0].prompt_ids == [1, 2, 3] and rows[0].response_mask == [1, 1]
    assert rows[0].num_turns == 2 and rows[0].logprobs is None
    for prompt_len, response_len in ((2, 2), (3, 1)):
        rows, dropped = calls_to_trajectories(exact, merge_multi_turn=False, max_prompt_length=prompt_len,
                                              max_response_length=response_len)
        assert rows == [] and dropped == 1


def test_a_dropped_call_closes_its_agents_row():
    """After a call of agent a is dropped, a's next call does not extend a's earlier row."""
    calls = [CallTokens("a", [1], [2]), CallTokens("a", [1, 2] + [0] * 8, [3]), CallTokens("a", [1, 2, 3], [4])]
    rows, dropped = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=4, max_response_length=8)
    assert dropped == 1 and [(r.prompt_ids, r.response_ids) for r in rows] == [([1], [2]), ([1, 2, 3], [4])]


def test_merging_with_a_call_without_logprobs_drops_the_rows_logprobs():
    calls = [CallTokens("a", [1], [2], [-0.1]), CallTokens("a", [1, 2, 3], [4], None)]
    rows, _ = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=8, max_response_length=8)
    assert [r.logprobs for r in rows] == [None] and rows[0].messages is None
    calls = [CallTokens("a", [1], [2], None), CallTokens("a", [1, 2, 3], [4], [-0.4])]
    rows, _ = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=8, max_response_length=8)
    assert [r.logprobs for r in rows] == [None]
    msgs = [{"role": "user", "content": "again"}]
    calls = [CallTokens("a", [1], [2], [-0.1]), CallTokens("a", [1, 2, 3], [4], [-0.4], messages=msgs)]
    rows, _ = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=8, max_response_length=8)
    assert rows[0].messages == msgs and rows[0].full_ids == [1, 2, 3, 4]


def test_a_call_that_continues_without_a_new_turn_merges_and_later_calls_still_count():
    """A prompt equal to the row's tokens so far extends the row (no user turn in between); the calls after a
    merge are still processed."""
    calls = [CallTokens("a", [1], [2], [-0.2]), CallTokens("a", [1, 2], [3], [-0.3]), CallTokens("b", [7], [8])]
    rows, dropped = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=8, max_response_length=8)
    assert dropped == 0 and [(r.agent, r.response_ids, r.response_mask) for r in rows] == [
        ("a", [2, 3], [1, 1]), ("b", [8], [1])]
    assert rows[0].logprobs == [-0.2, -0.3]


def test_multi_turn_calls_merge_into_one_row_with_mask():
    calls = [
        CallTokens("solver", [1, 2, 3], [10, 11], [-0.1, -0.2]),
        CallTokens("critic", [5, 6], [20], [-0.5]),
        # solver asked again: its prompt continues its own previous tokens with a user turn [7, 8]
        CallTokens("solver", [1, 2, 3, 10, 11, 7, 8], [12, 13, 14], [-0.3, -0.4, -0.6]),
    ]
    rows, dropped = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=16, max_response_length=16)
    assert dropped == 0
    assert [r.agent for r in rows] == ["solver", "critic"]
    solver = rows[0]
    assert solver.prompt_ids == [1, 2, 3]
    assert solver.response_ids == [10, 11, 7, 8, 12, 13, 14]
    assert solver.response_mask == [1, 1, 0, 0, 1, 1, 1]
    assert solver.logprobs == [-0.1, -0.2, 0.0, 0.0, -0.3, -0.4, -0.6]
    assert solver.num_turns == 4


def test_no_merge_when_history_rewritten_or_disabled_or_too_long():
    calls = [CallTokens("a", [1, 2], [3]), CallTokens("a", [1, 9, 3, 4], [5])]
    rows, _ = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=16, max_response_length=16)
    assert len(rows) == 2 and rows[1].prompt_ids == [1, 9, 3, 4] and rows[1].response_mask == [1]
    calls = [CallTokens("a", [1, 2], [3]), CallTokens("a", [1, 2, 3, 4], [5])]
    rows, _ = calls_to_trajectories(calls, merge_multi_turn=False, max_prompt_length=16, max_response_length=16)
    assert len(rows) == 2
    # merged response would exceed 3 tokens -> new row; its prompt (4 tokens) fits max_prompt_length=4
    rows, dropped = calls_to_trajectories(calls, merge_multi_turn=True, max_prompt_length=4, max_response_length=2)
    assert len(rows) == 2 and dropped == 0 and rows[1].response_ids == [5]
    # a call whose prompt is too long to train on is dropped and counted
    rows, dropped = calls_to_trajectories([CallTokens("a", list(range(9)), [1])], merge_multi_turn=True,
                                          max_prompt_length=8, max_response_length=8)
    assert rows == [] and dropped == 1


def test_cap_rows_spreads_evenly():
    rows, _ = calls_to_trajectories([CallTokens(f"a{i}", [i], [i]) for i in range(10)], merge_multi_turn=True,
                                    max_prompt_length=4, max_response_length=4)
    kept, dropped = cap_rows(rows, 4)
    assert [r.agent for r in kept] == ["a0", "a3", "a6", "a9"] and dropped == 6
    assert cap_rows(rows, 0) == (rows, 0)
    assert [r.agent for r in cap_rows(rows, 1)[0]] == ["a9"]
    assert cap_rows(rows, 1)[1] == 9
    assert cap_rows(rows, 10) == (rows, 0) and cap_rows(rows, 11) == (rows, 0)
    kept, dropped = cap_rows(rows, 9)  # rounding may pick fewer distinct rows than asked: count what was dropped
    assert len(kept) + dropped == 10 and [r.agent for r in kept][0] == "a0" and kept[-1].agent == "a9"
    kept, dropped = cap_rows(rows, 2)
    assert [r.agent for r in kept] == ["a0", "a9"] and dropped == 8


def test_majority_answer():
    assert majority_answer(["4", " 4 ", "5", None]) == "4"
    assert majority_answer(["5", "4"]) == "5"
    assert majority_answer([None, ""]) is None
    assert majority_answer(["x = 1", "print(2)", "x=1"], task_type="code") == "x = 1"  # programs: whitespace-free text
    # answers vote by their normal form (1/2 = 0.5 = \\frac12), programs by their text
    votes = ["1/2", "y", "y", "0.5", "\\frac12"]
    assert majority_answer(votes) == "1/2" and majority_answer(votes, task_type="code") == "y"


def test_config_defaults_and_overrides():
    cfg = load_rollout_config(None)
    assert (cfg.num_designs, cfg.num_executions) == (4, 4)
    assert cfg.designer_sampling.temperature == 1.0 and cfg.designer_sampling.top_p == 0.9
    cfg = load_rollout_config({"num_designs": 8, "num_executions": "1", "executor_sampling": {"temperature": 0.6}})
    assert (cfg.num_designs, cfg.num_executions, cfg.executor_sampling.temperature) == (8, 1, 0.6)


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"num_designs": 0}, "metaagent.rollout.num_designs"),
        ({"num_design": 4}, "metaagent.rollout.num_design"),
        ({"prompt_variant": "long"}, "metaagent.rollout.prompt_variant"),
        ({"designer_sampling": {"top_p": 0}}, "metaagent.rollout.designer_sampling.top_p"),
        ({"budget": {"max_agent_calls": -1}}, "metaagent.rollout.budget.max_agent_calls"),
        ({"num_executions": 1.5}, "metaagent.rollout.num_executions"),
    ],
)
def test_config_errors_name_the_key(bad, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_rollout_config(bad)
