"""The phase schedule: tables for K in {1, 30}, both orders, other modes, resume mid-phase."""

import pytest

from verl_metaagent.phases import PhaseConfig, phase_at
from verl_metaagent.utils.config_utils import ConfigError


def roles(cfg, steps):
    return ["".join(r[0].upper() for r in phase_at(s, cfg).active_roles) for s in steps]


def test_k1_alternates_every_step():
    assert roles(PhaseConfig(phase_length=1), range(1, 7)) == ["E", "D", "E", "D", "E", "D"]
    assert roles(PhaseConfig(phase_length=1, first_role="designer"), range(1, 7)) == ["D", "E", "D", "E", "D", "E"]


@pytest.mark.parametrize("first,second", [("executor", "designer"), ("designer", "executor")])
def test_k30_table(first, second):
    cfg = PhaseConfig(phase_length=30, first_role=first)
    table = {s: phase_at(s, cfg) for s in range(1, 122)}
    for s in range(1, 31):
        assert table[s].active_roles == (first,) and table[s].phase_index == 0 and table[s].step_in_phase == s - 1
    for s in range(31, 61):
        assert table[s].active_roles == (second,) and table[s].phase_index == 1 and table[s].step_in_phase == s - 31
    assert table[61].active_roles == (first,) and table[61].phase_index == 2 and table[61].step_in_phase == 0
    assert table[121].phase_index == 4


def test_matches_release_formula_on_zero_based_counter():
    for k in (1, 3, 30):
        cfg = PhaseConfig(phase_length=k)
        for step in range(1, 200):
            release_phase = ((step - 1) // k) % 2  # 0 = executor in the release
            assert phase_at(step, cfg).active_roles == (("executor",) if release_phase == 0 else ("designer",))


def test_resume_mid_phase_continues_same_phase_and_position():
    cfg = PhaseConfig(phase_length=30)
    uninterrupted = [phase_at(s, cfg) for s in range(1, 101)]
    # verl: checkpoint global_step_45 saved after step 45; fit() resumes with global_steps = 45 + 1
    resumed = [phase_at(s, cfg) for s in range(1, 46)] + [phase_at(s, cfg) for s in range(45 + 1, 101)]
    assert resumed == uninterrupted
    info = phase_at(46, cfg)
    assert info.active_roles == ("designer",) and info.phase_index == 1 and info.step_in_phase == 15


def test_step_zero_is_first_step():
    assert phase_at(0, PhaseConfig()) == phase_at(1, PhaseConfig())


def test_other_modes():
    assert phase_at(77, PhaseConfig(mode="simultaneous")).active_roles == ("designer", "executor")
    assert phase_at(77, PhaseConfig(mode="designer_only")).active_roles == ("designer",)
    assert phase_at(77, PhaseConfig(mode="executor_only")).active_roles == ("executor",)
    assert phase_at(77, PhaseConfig(mode="simultaneous")).name == "designer+executor"


def test_validation_errors_name_key_and_fix():
    with pytest.raises(ConfigError, match=r"metaagent.phase.phase_length .*Fix: set metaagent.phase.phase_length=30"):
        phase_at(1, PhaseConfig(phase_length=0))
    with pytest.raises(ConfigError, match="metaagent.phase.mode"):
        phase_at(1, PhaseConfig(mode="round_robin"))
    with pytest.raises(ConfigError, match="metaagent.phase.first_role"):
        phase_at(1, PhaseConfig(first_role="critic"))
    with pytest.raises(ValueError):
        phase_at(-1, PhaseConfig())


@pytest.mark.parametrize("mode, roles", [("simultaneous", ("designer", "executor")), ("designer_only", ("designer",)),
                                         ("executor_only", ("executor",))])
def test_unbounded_modes_count_steps_in_one_phase(mode, roles):
    """Outside ``alternate`` there is one unbounded phase: index 0, step_in_phase = step - 1, length 0."""
    for step, step_in_phase in ((0, 0), (1, 0), (2, 1), (77, 76)):
        info = phase_at(step, PhaseConfig(mode=mode, phase_length=5))
        assert (info.active_roles, info.phase_index, info.step_in_phase, info.phase_length, info.mode) == (
            roles, 0, step_in_phase, 0, mode)


def test_alternate_reports_its_length_mode_and_metrics():
    info = phase_at(5, PhaseConfig(phase_length=3, first_role="designer"))  # steps 4..6: the second phase
    assert (info.active_roles, info.phase_index, info.step_in_phase, info.phase_length, info.mode) == (
        ("executor",), 1, 1, 3, "alternate")
    assert info.name == "executor" and info.is_active("executor") and not info.is_active("designer")
    assert info.metrics() == {"metaagent/phase/index": 1.0, "metaagent/phase/step_in_phase": 1.0,
                              "metaagent/phase/trains_designer": 0.0, "metaagent/phase/trains_executor": 1.0}
    both = phase_at(4, PhaseConfig(mode="simultaneous"))
    assert both.metrics() == {"metaagent/phase/index": 0.0, "metaagent/phase/step_in_phase": 3.0,
                              "metaagent/phase/trains_designer": 1.0, "metaagent/phase/trains_executor": 1.0}


def test_default_schedule_is_the_papers():
    assert PhaseConfig() == PhaseConfig(mode="alternate", phase_length=30, first_role="executor")
    assert phase_at(30).active_roles == ("executor",) and phase_at(31).active_roles == ("designer",)


@pytest.mark.parametrize(
    "cfg, message",
    [
        (PhaseConfig(mode="m"), "metaagent.phase.mode must be one of alternate, simultaneous, designer_only, "
         "executor_only, got 'm'. Fix: set metaagent.phase.mode=alternate (the paper's stagewise co-evolution)"),
        (PhaseConfig(phase_length=0), "metaagent.phase.phase_length must be an integer >= 1, got 0. "
         "Fix: set metaagent.phase.phase_length=30 (the paper's K)"),
        (PhaseConfig(phase_length=2.0), "metaagent.phase.phase_length must be an integer >= 1, got 2.0. "
         "Fix: set metaagent.phase.phase_length=30 (the paper's K)"),
        (PhaseConfig(first_role="critic"), "metaagent.phase.first_role must be 'executor' or 'designer', "
         "got 'critic'. Fix: set metaagent.phase.first_role=executor"),
    ],
)
def test_config_errors_in_full(cfg, message):
    with pytest.raises(ConfigError) as err:
        cfg.validate()
    assert str(err.value) == message
    assert PhaseConfig(phase_length=1).validate() == PhaseConfig(phase_length=1)


def test_load_phase_config():
    from verl_metaagent.phases import load_phase_config

    assert load_phase_config(None) == PhaseConfig()
    assert load_phase_config({"mode": "simultaneous", "phase_length": "4"}) == PhaseConfig("simultaneous", 4)
    with pytest.raises(ConfigError, match=r"^p\.q\.phase_length must"):
        load_phase_config({"phase_length": 0}, path="p.q")


def test_loader_paths_and_step_errors():
    from verl_metaagent.phases import load_phase_config

    with pytest.raises(ConfigError, match=r"^metaagent\.phase\.mode="):
        load_phase_config({"mode": "m"})
    with pytest.raises(ConfigError, match=r"p\.q\.nope"):
        load_phase_config({"nope": 1}, path="p.q")
    with pytest.raises(ValueError) as err:
        phase_at(-1)
    assert str(err.value) == "global_step must be >= 0, got -1"
