"""Validated dataclasses of the ``metaagent`` config group and start-up checks of the whole run config.

Each section's dataclass and loader live with its owner; this module only composes them:
``rollout`` (:func:`verl_metaagent.rollout.config.load_rollout_config`), ``advantage``
(:func:`verl_metaagent.advantage.core.load_advantage_config`), ``phase``
(:func:`verl_metaagent.phases.load_phase_config`), ``actor_update``
(:func:`verl_metaagent.trainer.step_plan.load_update_config`), ``sandbox`` (free-form) and the scalar
``parameters`` (``shared`` / ``separate``, :mod:`verl_metaagent.trainer.separate_params`).
Every error is a :class:`~verl_metaagent.utils.config_utils.ConfigError` naming the key and the fix.
No verl / torch imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verl_metaagent.advantage.core import AdvantageConfig, load_advantage_config
from verl_metaagent.phases import PhaseConfig, load_phase_config
from verl_metaagent.trainer.separate_params import check_separate_config, load_parameters
from verl_metaagent.trainer.step_plan import UpdateConfig, load_update_config
from verl_metaagent.utils.config_utils import ConfigError, require, select_path, to_plain

SECTIONS = ("rollout", "advantage", "phase", "actor_update", "sandbox", "parameters")
ALLOWED_LOSS_AGG_MODES = ("token-mean", "token-sum")


@dataclass
class MetaAgentConfig:
    """The whole ``metaagent`` group.

    Attributes:
        rollout: the M x N tree (``verl_metaagent.rollout.config.RolloutTreeConfig``).
        advantage: hierarchical advantage options.
        phase: stagewise co-evolution schedule.
        actor_update: optimizer steps per training step and per-role update passes (v1 trainer).
        sandbox: options for the design sandbox (interpreted by the rollout / sandbox modules).
        parameters: ``shared`` (one policy designs and executes; the paper) or ``separate`` (the ablation:
            a designer policy and an executor policy, each with its own optimizer and rollout replicas).
    """

    rollout: Any = None
    advantage: AdvantageConfig = field(default_factory=AdvantageConfig)
    phase: PhaseConfig = field(default_factory=PhaseConfig)
    actor_update: UpdateConfig = field(default_factory=UpdateConfig)
    sandbox: dict = field(default_factory=dict)
    parameters: str = "shared"


def load_metaagent_config(node: Any, path: str = "metaagent") -> MetaAgentConfig:
    """Build and validate the ``metaagent`` group (None = all defaults)."""
    from verl_metaagent.rollout.config import load_rollout_config

    data = to_plain(node) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping with keys {', '.join(SECTIONS)}; got {data!r}.")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {', '.join(path + '.' + k for k in unknown)}. "
            f"Valid keys under {path}: {', '.join(SECTIONS)}."
        )
    sandbox = data.get("sandbox") or {}
    if not isinstance(sandbox, dict):
        raise ConfigError(f"{path}.sandbox must be a mapping, got {sandbox!r}.")
    from verl_metaagent.sandbox import settings_from_config

    try:  # validated at start-up, applied by the rollout workers
        settings_from_config(sandbox, {}, where=f"{path}.sandbox")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return MetaAgentConfig(
        rollout=load_rollout_config(data.get("rollout"), f"{path}.rollout"),
        advantage=load_advantage_config(data.get("advantage"), f"{path}.advantage"),
        phase=load_phase_config(data.get("phase"), f"{path}.phase"),
        actor_update=load_update_config(data.get("actor_update"), f"{path}.actor_update"),
        sandbox=dict(sandbox),
        parameters=load_parameters(data.get("parameters"), f"{path}.parameters"),
    )


def num_mini_batches(config: Any) -> int:
    """Optimizer steps per PPO epoch: ``data.train_batch_size // actor.ppo_mini_batch_size`` (both in
    problems, verl's convention). The trainer splits the step's rows into this many mini-batches."""
    return max(1, int(select_path(config, "data.train_batch_size"))
               // int(select_path(config, "actor_rollout_ref.actor.ppo_mini_batch_size")))


def check_sampling_matches_logprob_pass(config: Any, meta: MetaAgentConfig) -> None:
    """Each role's sampling must be what the actor's log-prob pass assumes, or explicitly accepted.

    verl recomputes old and new log-probs at ``actor_rollout_ref.rollout.temperature`` for every row, so a
    role temperature that differs from it makes every importance ratio off-policy: always an error.
    Truncation and penalties (``top_p < 1``, ``top_k > 0``, ``repetition_penalty != 1``) are not modelled by
    the log-prob pass either; they are allowed only with ``metaagent.rollout.truncated_sampling=accept``.
    """
    rollout_t = float(select_path(config, "actor_rollout_ref.rollout.temperature", 1.0))
    tree = meta.rollout
    for role in ("designer", "executor"):
        s = getattr(tree, f"{role}_sampling")
        key = f"metaagent.rollout.{role}_sampling"
        require(
            float(s.temperature) == rollout_t,
            f"{key}.temperature",
            f"is {s.temperature:g}, "
            f"but the actor computes log-probs at actor_rollout_ref.rollout.temperature={rollout_t:g}: "
            "every importance ratio of this role would be off-policy",
            f"set {key}.temperature={rollout_t:g} (or set actor_rollout_ref.rollout.temperature to the role's value)",
        )
        truncated = [
            name
            for name, on in (
                ("top_p", float(s.top_p) < 1.0),
                ("top_k", int(s.top_k) > 0),
                ("repetition_penalty", s.repetition_penalty not in (None, 1, 1.0)),
            )
            if on
        ]
        require(
            not truncated or tree.truncated_sampling == "accept",
            f"{key}.{truncated[0] if truncated else 'top_p'}",
            f"({', '.join(f'{key}.{n}' for n in truncated)}) changes the sampling distribution, which the actor's "
            "log-prob pass does not model, and metaagent.rollout.truncated_sampling=reject",
            f"reset {', '.join(truncated)} to 1.0 / -1 / null, or set metaagent.rollout.truncated_sampling=accept",
        )


def apply_verl_std_switch(config: Any, meta: MetaAgentConfig) -> None:
    """Honour verl's Dr.GRPO switch: ``algorithm.norm_adv_by_std_in_grpo=false`` turns std normalisation off
    (``metaagent.advantage.norm_by_std`` becomes false). verl's default (true) leaves ours as configured."""
    verl_flag = select_path(config, "algorithm.norm_adv_by_std_in_grpo", True)
    if verl_flag is False or str(verl_flag).lower() == "false":
        meta.advantage.norm_by_std = False


def validate_run_config(config: Any) -> MetaAgentConfig:
    """Start-up checks of a full run config (verl's ``ppo_trainer`` + ``metaagent``).

    Raises:
        ConfigError: naming the key and the fix.
    """
    meta = load_metaagent_config(select_path(config, "metaagent"))
    check_separate_config(config, meta.parameters, meta.actor_update.role_passes)
    check_sampling_matches_logprob_pass(config, meta)
    apply_verl_std_switch(config, meta)
    from verl_metaagent.trainer.provenance import check_prompt_variant

    model_path = str(select_path(config, "actor_rollout_ref.model.path", "") or "")
    check_prompt_variant(model_path, meta.rollout.prompt_variant)
    est = str(select_path(config, "algorithm.adv_estimator", ""))
    require(
        est == "metaagent",
        "algorithm.adv_estimator",
        f"must be 'metaagent' for the MetaAgent-X trainer, got {est!r}",
        "set algorithm.adv_estimator=metaagent (grouping follows metaagent.advantage; "
        "flat GRPO is metaagent.advantage.mode=flat_grpo)",
    )
    n = int(select_path(config, "actor_rollout_ref.rollout.n", 1))
    m, k = meta.rollout.num_designs, meta.rollout.num_executions
    require(
        n == 1,
        "actor_rollout_ref.rollout.n",
        f"must be 1 with the design-execute tree (each problem already yields M x N = {m} x {k} = {m * k} "
        f"executions), got {n}",
        "set actor_rollout_ref.rollout.n=1 and size the tree with metaagent.rollout.num_designs / num_executions",
    )
    val_n = int(select_path(config, "actor_rollout_ref.rollout.val_kwargs.n", 1))
    require(
        val_n == 1,
        "actor_rollout_ref.rollout.val_kwargs.n",
        f"must be 1 (validation grows one tree per problem; its size is metaagent.rollout.validation.*), got {val_n}",
        "set actor_rollout_ref.rollout.val_kwargs.n=1 and use "
        "metaagent.rollout.validation.num_designs/num_executions/select",
    )
    batch = int(select_path(config, "data.train_batch_size"))
    mini = int(select_path(config, "actor_rollout_ref.actor.ppo_mini_batch_size"))
    require(mini >= 1, "actor_rollout_ref.actor.ppo_mini_batch_size", f"must be >= 1, got {mini}",
            "set it to a divisor of data.train_batch_size")
    require(
        batch % mini == 0,
        "data.train_batch_size",
        f"({batch} problems, i.e. {batch * m} designs and {batch * m * k} executions per step) must be divisible by "
        f"actor_rollout_ref.actor.ppo_mini_batch_size ({mini}, in problems)",
        f"set actor_rollout_ref.actor.ppo_mini_batch_size to a divisor of {batch}, e.g. {batch}",
    )
    agg = str(select_path(config, "actor_rollout_ref.actor.loss_agg_mode", "token-mean"))
    require(
        agg in ALLOWED_LOSS_AGG_MODES,
        "actor_rollout_ref.actor.loss_agg_mode",
        f"is {agg!r}; with a variable number of rows per step and zero-weight padding rows only "
        f"{' / '.join(ALLOWED_LOSS_AGG_MODES)} keep the loss independent of padding",
        "set actor_rollout_ref.actor.loss_agg_mode=token-mean (the paper's setting)",
    )
    return meta
