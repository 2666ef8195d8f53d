"""The v1 path's row bookkeeping: TransferQueue keys of a tree and the trainer's reading of them."""

from verl_metaagent.rollout.rows import RowSpec
from verl_metaagent.rollout.worker_tq import row_keys
from verl_metaagent.trainer.v1_trainer import _sampled_rows


def _row(role, duid, euid=""):
    return RowSpec(role, "u1", duid, euid, 0, "math/x", 0.5, "finished", [1], [2], [1], None, 2)


def test_keys_are_design_sessions_with_the_designer_row_first():
    rows = [_row("designer", "u1/d0"), _row("executor", "u1/d0", "u1/d0/e0"), _row("executor", "u1/d0", "u1/d0/e1"),
            _row("designer", "u1/d1"), _row("executor", "u1/d1", "u1/d1/e0")]
    assert row_keys("u1", rows) == ["u1_0_0", "u1_0_1", "u1_0_2", "u1_1_0", "u1_1_1"]
    # the replay buffer groups a problem's rows by the key's first field: no '_' may be in a uid
    assert {k.split("_")[0] for k in row_keys("u1", rows)} == {"u1"}


def test_sampled_rows_read_ids_rewards_and_rowless_executions_and_mark_padding():
    keys = ["u1_0_0", "u1_0_1", "padx_0_0"]
    tags = [{"global_steps": 3}, {"global_steps": 3}, {"is_padding": True, "global_steps": 3}]
    extra = [
        {"role": "designer", "uid": "u1", "design_uid": "u1/d0", "exec_uid": "", "metaagent_reward": 0.25,
         "data_source": "code/apps", "rowless_executions": [["u1/d0/e3", 0.0]], "metaagent_summary": {"designs": []}},
        {"role": "executor", "uid": "u1", "design_uid": "u1/d0", "exec_uid": "u1/d0/e0", "metaagent_reward": 1.0},
        {"role": "designer", "uid": "u1"},  # a synthetic pad row copies a real row's fields: its tag decides
    ]
    rows, summaries = _sampled_rows(keys, tags, extra)
    assert [(r.role, r.reward, r.generated_at) for r in rows] == [("designer", 0.25, 3), ("executor", 1.0, 3),
                                                                  ("pad", 0.0, 0)]
    assert rows[0].rowless_executions == (("u1/d0/e3", 0.0),) and rows[0].data_source == "code/apps"
    assert summaries == [{"designs": []}]
