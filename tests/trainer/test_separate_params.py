"""metaagent.parameters=separate: the pure rules (config checks, routing, sync per phase, checkpoints,
metric names, resume refusal) and the rollout routing of designer vs executor calls."""

from __future__ import annotations


import pytest

from verl_metaagent.config.schema import load_metaagent_config
from verl_metaagent.phases import PhaseConfig
from verl_metaagent.trainer import separate_params as sep
from verl_metaagent.utils.config_utils import ConfigError


def cfg(**over):
    base = {
        "trainer": {"use_v1": True, "v1": {"trainer_mode": "metaagent"}},
        "actor_rollout_ref": {"rollout": {"name": "cpu"}},
    }
    for dotted, value in over.items():
        node = base
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return base


def test_switch_default_and_validation():
    assert load_metaagent_config(None).parameters == "shared"
    assert load_metaagent_config({"parameters": "separate"}).parameters == "separate"
    with pytest.raises(ConfigError, match=r"metaagent.parameters must be one of shared / separate, got 'split'.*Fix"):
        load_metaagent_config({"parameters": "split"})
    with pytest.raises(ConfigError, match=r"metaagent.parameters"):
        load_metaagent_config({"parameters": True})


def test_separate_refused_where_unsupported():
    sep.check_separate_config(cfg(), "separate", "separate")  # supported
    sep.check_separate_config(cfg(trainer__use_v1=False), "shared", "mixed")  # shared: nothing checked
    with pytest.raises(ConfigError, match=r"^trainer.use_v1 .*legacy.*Fix: set trainer.use_v1=true"):
        sep.check_separate_config(cfg(trainer__use_v1=False), "separate", "separate")
    with pytest.raises(ConfigError, match=r"^trainer.v1.trainer_mode .*metaagent_colocate_async"):
        sep.check_separate_config(cfg(trainer__v1__trainer_mode="metaagent_colocate_async"), "separate", "separate")
    with pytest.raises(ConfigError, match=r"^metaagent.actor_update.role_passes .*mixed"):
        sep.check_separate_config(cfg(), "separate", "mixed")
    sep.check_rollout_engine(cfg())
    with pytest.raises(ConfigError, match=r"^actor_rollout_ref.rollout.name is 'vllm'.*designer's weights would reach"):
        sep.check_rollout_engine(cfg(actor_rollout_ref__rollout__name="vllm"))


def test_run_config_validation_names_the_key():
    from hydra import compose, initialize_config_dir

    from verl_metaagent.config import CONFIG_DIR
    from verl_metaagent.config.schema import validate_run_config

    def compose_cfg(*overrides):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
            return compose("metaagent_trainer", overrides=["data.train_batch_size=2",
                                                           "actor_rollout_ref.actor.ppo_mini_batch_size=1", *overrides])

    meta = validate_run_config(compose_cfg("metaagent.parameters=separate"))
    assert meta.parameters == "separate"
    assert validate_run_config(compose_cfg()).parameters == "shared"
    with pytest.raises(ConfigError, match=r"trainer.use_v1"):
        validate_run_config(compose_cfg("metaagent.parameters=separate", "trainer.use_v1=false"))
    with pytest.raises(ConfigError, match=r"metaagent.parameters must be"):
        validate_run_config(compose_cfg("metaagent.parameters=both"))


def test_each_pass_goes_to_its_roles_policy():
    assert sep.pass_policy(("designer",)) == "designer"
    assert sep.pass_policy(("executor",)) == "executor"
    with pytest.raises(ValueError):
        sep.pass_policy(("designer", "executor"))
    with pytest.raises(ValueError):
        sep.pass_policy(("pad",))


def test_plan_passes_route_rows_by_role():
    """plan_step's passes (role_passes=separate) in a simultaneous step: every designer row to the designer
    policy, every executor row to the executor's, none twice."""
    from verl_metaagent.trainer.step_plan import SampledRow, load_update_config, plan_step
    from verl_metaagent.advantage.core import load_advantage_config

    rows = []
    for j in range(2):
        rows.append(
            SampledRow(key=f"u_{j}_0", role="designer", uid="u", design_uid=f"u/d{j}", exec_uid="", reward=float(j)))
        for k in range(2):
            rows.append(SampledRow(key=f"u_{j}_{k + 1}", role="executor", uid="u", design_uid=f"u/d{j}",
                                   exec_uid=f"u/d{j}/e{k}", reward=float(j + k)))
    plan = plan_step(rows, global_step=1, adv_config=load_advantage_config(None),
                     phase_config=PhaseConfig(mode="simultaneous"), update_config=load_update_config(None))
    routed = {sep.pass_policy(p.roles): set(p.keys) for p in plan.passes}
    assert routed == {"designer": {"u_0_0", "u_1_0"}, "executor": {"u_0_1", "u_0_2", "u_1_1", "u_1_2"}}


@pytest.mark.parametrize(
    "phase,steps,want",
    [
        (PhaseConfig(mode="alternate", phase_length=1, first_role="executor"), [1, 2, 3, 4],
         [("executor",), ("designer",), ("executor",), ("designer",)]),
        (PhaseConfig(mode="alternate", phase_length=2, first_role="designer"), [1, 2, 3, 4, 5],
         [("designer",), ("designer",), ("executor",), ("executor",), ("designer",)]),
        (PhaseConfig(mode="simultaneous"), [1, 7], [("designer", "executor")] * 2),
        (PhaseConfig(mode="designer_only"), [1, 2], [("designer",)] * 2),
        (PhaseConfig(mode="executor_only"), [1, 2], [("executor",)] * 2),
    ],
)
def test_only_the_policies_in_phase_sync(phase, steps, want):
    assert [sep.policies_to_sync(s, phase) for s in steps] == want


def test_checkpoint_dirs_and_metric_names():
    assert sep.actor_checkpoint_dir("/c/global_step_3", "executor") == "/c/global_step_3/actor"
    assert sep.actor_checkpoint_dir("/c/global_step_3", "designer") == "/c/global_step_3/designer_actor"
    pass_metrics = {"actor/pg_loss": 0.5, "actor/grad_norm": 2.0, "perf/mfu/actor": 0.1,
                    "metaagent/train/pad_rows": 1.0}
    assert sep.role_actor_metrics("designer", pass_metrics) == {
        "actor_designer/pg_loss": 0.5, "actor_designer/grad_norm": 2.0, "perf/mfu/actor_designer": 0.1}
    assert set(sep.role_actor_metrics("executor", pass_metrics)) == {
        "actor_executor/pg_loss", "actor_executor/grad_norm", "perf/mfu/actor_executor"}


def test_resume_refuses_the_other_parameters():
    sep.check_resume("/c/global_step_2", "shared", None, ["actor", "data.pt"])  # old checkpoints: shared
    sep.check_resume("/c/global_step_2", "shared", {"prompt_variant": "full"}, ["actor"])
    sep.check_resume("/c/global_step_2", "separate", {"parameters": "separate"}, ["actor", "designer_actor"])
    with pytest.raises(ConfigError,
                       match=r"^metaagent.parameters is 'separate', but .*trained with metaagent.parameters='shared'"
                             r".*no designer policy.*Fix: set metaagent.parameters=shared"):
        sep.check_resume("/c/global_step_2", "separate", {"parameters": "shared"}, ["actor"])
    with pytest.raises(ConfigError, match=r"^metaagent.parameters is 'shared'.*designer policy would be dropped"
                                          r".*Fix: set metaagent.parameters=separate"):
        sep.check_resume("/c/global_step_2", "shared", {"parameters": "separate"}, ["actor", "designer_actor"])
    with pytest.raises(ConfigError, match=r"says parameters='separate' but the folder has no designer_actor"):
        sep.check_resume("/c/global_step_2", "separate", {"parameters": "separate"}, ["actor"])
    with pytest.raises(ConfigError, match=r"metaagent.parameters is 'shared'"):  # no record, but a designer folder
        sep.check_resume("/c/global_step_2", "shared", None, ["actor", "designer_actor"])


DESIGN = (
    "```python\nfrom verl_metaagent.design.api import *\n"
    "solver = Agent('Solver', 'Solve the problem.')\n"
    "finish(solver.ask())\n```"
)


class _RecordingClient:
    """A policy client that answers with fixed text and records the request ids it answered."""

    def __init__(self, tokenizer, text):
        from verl_metaagent.backends import ScriptedBackend
        from verl_metaagent.clients import TokenPolicyClient

        self.inner = TokenPolicyClient(ScriptedBackend(tokenizer, lambda prompt: text), tokenizer)
        self.calls = []

    async def complete(self, request_id, messages, sampling, *, previous=None):
        self.calls.append(request_id)
        return await self.inner.complete(request_id, messages, sampling, previous=previous)


async def test_tree_runner_sends_designs_to_the_designer_client_and_agent_calls_to_the_executor(tiny_tokenizer):
    from verl_metaagent.rollout.config import RolloutTreeConfig
    from verl_metaagent.rollout.grading import make_grader
    from verl_metaagent.rollout.tree_runner import ProblemSpec, TreeRunner

    designer = _RecordingClient(tiny_tokenizer, DESIGN)
    executor = _RecordingClient(tiny_tokenizer, "The answer is \\boxed{4}.")
    cfg = RolloutTreeConfig(num_designs=2, num_executions=2, prompt_variant="short").validate()
    runner = TreeRunner(cfg, executor, make_grader(None), prompt_length=2048, response_length=256,
                        designer_client=designer)
    assert TreeRunner(cfg, executor, make_grader(None), prompt_length=2048,
                      response_length=256).designer_client is executor
    tree = await runner.grow(ProblemSpec("p0", 0, "What is 2 + 2?", "math", "math/x", "4"))
    assert sorted(designer.calls) == ["p0/d0", "p0/d1"]  # the designs, nothing else
    # the agent calls only
    assert sorted(executor.calls) == [f"p0/d{j}/e{k}/Solver" for j in range(2) for k in range(2)]
    assert all(e.reward == 1.0 for d in tree.designs for e in d.executions)


def test_resume_folder_is_the_one_verl_resumes(tmp_path):
    root = tmp_path / "ckpts"
    (root / "global_step_4").mkdir(parents=True)
    trainer = {"resume_mode": "auto", "default_local_dir": "ckpts"}
    assert sep.resume_folder(trainer, cwd=str(tmp_path)) is None  # no tracker file: a fresh start
    (root / sep.TRACKER_FILE).write_text("4\n")
    assert sep.resume_folder(trainer, cwd=str(tmp_path)) == str(root / "global_step_4")  # relative to cwd
    absolute = dict(trainer, default_local_dir=str(root))
    assert sep.resume_folder(absolute, cwd="/elsewhere") == str(root / "global_step_4")
    (root / sep.TRACKER_FILE).write_text("6")
    assert sep.resume_folder(trainer, cwd=str(tmp_path)) is None  # the tracker names a missing folder
    (root / sep.TRACKER_FILE).write_text("six")
    assert sep.resume_folder(trainer, cwd=str(tmp_path)) is None
    assert sep.resume_folder({"resume_mode": "disable", "default_local_dir": str(root)}) is None
    assert sep.resume_folder({"resume_mode": "auto"}) is None  # no checkpoint folder configured
    given = {"resume_mode": "resume_path", "resume_from_path": "x/global_step_2"}
    assert sep.resume_folder(given, cwd="/base") == "/base/x/global_step_2"
