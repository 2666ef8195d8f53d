"""The row contract's id builders and names (verl_metaagent/contract.py)."""

import pytest

from verl_metaagent import contract


def test_ids_nest():
    assert contract.design_uid("p7", 2) == "p7/d2"
    assert contract.exec_uid("p7", 2, 3) == "p7/d2/e3"
    assert contract.exec_uid("p7", 2, 3).startswith(contract.design_uid("p7", 2) + "/")
    assert contract.design_uid("p", "4") == "p/d4"  # indices are ints whatever their type


def test_repeat_uid():
    assert contract.repeat_uid("u", 0) == "u"
    assert contract.repeat_uid("u", 1) == "u#1" and contract.repeat_uid("u", "2") == "u#2"


@pytest.mark.parametrize("uid", ["p", "a/d3", "x/d", "u#1", "7"])
@pytest.mark.parametrize("j", [0, 3, 12])
def test_design_index_reads_back_any_design_uid(uid, j):
    assert contract.design_index(contract.design_uid(uid, j)) == j


@pytest.mark.parametrize("bad", ["", "p", "p/dx", "/d3", "p/d", "p/d3/e1"])
def test_design_index_refuses_what_is_no_design_uid(bad):
    with pytest.raises(ValueError, match="not a design_uid"):
        contract.design_index(bad)


def test_tq_key():
    assert contract.tq_key("u", 2, 0) == "u_2_0" and contract.tq_key("u", "1", "5") == "u_1_5"
    assert contract.split_tq_key(contract.tq_key("a_b#1", 3, 12)) == ("a_b#1", 3, 12)
    for bad in ("u", "u_1", "_1_2", "u_x_2", "u_1_x", "u__2"):
        with pytest.raises(ValueError, match="not a TQ key"):
            contract.split_tq_key(bad)


def test_names():
    assert contract.ROLES == ("designer", "executor", "pad") and contract.TRAINED_ROLES == ("designer", "executor")
    assert contract.ROW_ID_KEYS == ("role", "uid", "design_uid", "exec_uid")
    assert (contract.REWARD, contract.SUMMARY, contract.METRICS) == (
        "metaagent_reward", "metaagent_summary", "metaagent_metrics")
    assert (contract.MIN_GLOBAL_STEPS, contract.MAX_GLOBAL_STEPS) == ("min_global_steps", "max_global_steps")
    assert set(contract.__all__) == {n for n in vars(contract) if not n.startswith("_") and n != "annotations"}
