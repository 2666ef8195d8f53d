"""verl glue for the hierarchical advantage: tensors in, tensors out, registered as ``metaagent``.

What verl 0.9.1 passes to a registered estimator: ``ray_trainer.compute_advantage`` calls every
estimator other than ``gae``/``grpo`` as ``fn(token_level_rewards=(B, T), response_mask=(B, T),
config=<algorithm DictConfig>, index=non_tensor_batch["uid"] (if present), reward_baselines=...
(if present))``; only the estimator named ``gdpo`` also receives ``non_tensor_batch`` and ``batch``.
So a custom estimator cannot see ``role`` / ``design_uid`` / ``exec_uid`` through verl's call.

Therefore :class:`~verl_metaagent.trainer.MetaAgentRayTrainer` calls
:func:`compute_metaagent_advantage` itself (with the whole ``DataProto``). The registered
``metaagent`` estimator accepts the same tensors plus an optional ``non_tensor_batch`` keyword;
called by stock verl without it, it raises an error that says to use our trainer. Registering
it still matters: ``algorithm.adv_estimator=metaagent`` passes verl's config checks.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from verl_metaagent.advantage.core import AdvantageConfig, compute_advantages, load_advantage_config
from verl_metaagent.contract import DESIGN_UID, EXEC_UID, ROLE, ROW_ID_KEYS, UID

ESTIMATOR_NAME = "metaagent"


def metaagent_advantage_tensors(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    non_tensor_batch: dict[str, np.ndarray],
    adv_config: AdvantageConfig,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Hierarchical advantages broadcast over response tokens.

    Args:
        token_level_rewards: ``(B, T)``; a row's reward is its sum over tokens (verl puts the
            score on the last response token; pad rows carry zeros).
        response_mask: ``(B, T)`` 0/1.
        non_tensor_batch: ``role``, ``uid``, ``design_uid``, ``exec_uid`` arrays of shape ``(B,)``.
        adv_config: options.

    Returns:
        ``(advantages, returns, stats)``: ``advantages == returns``, ``(B, T)`` float32, the row's scalar
        advantage times ``response_mask`` (as verl's GRPO); ``stats`` from :func:`compute_advantages`.
    """
    missing = [k for k in ROW_ID_KEYS if k not in non_tensor_batch]
    if missing:
        raise KeyError(
            f"metaagent advantage needs non_tensor_batch fields {missing}; the rollout must produce the rows of "
            "docs/architecture.md (use actor_rollout_ref.rollout.agent.agent_loop_manager_class="
            "verl_metaagent.rollout.worker.HierarchicalAgentLoopManager)"
        )
    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1).detach().to(torch.float64).cpu().numpy()
        adv, stats = compute_advantages(
            non_tensor_batch[ROLE],
            non_tensor_batch[UID],
            non_tensor_batch[DESIGN_UID],
            non_tensor_batch[EXEC_UID],
            scores,
            adv_config,
        )
        per_row = torch.as_tensor(adv, dtype=torch.float32, device=response_mask.device)
        advantages = per_row.unsqueeze(-1) * response_mask.to(torch.float32)
    return advantages, advantages.clone(), stats


def adv_config_from_algorithm(config: Any) -> AdvantageConfig:
    """``AdvantageConfig`` from verl's ``algorithm`` config: its optional ``metaagent`` sub-node, with
    ``norm_adv_by_std_in_grpo`` as the std switch when the sub-node does not set ``norm_by_std``."""
    node = None
    norm = True
    if config is not None:
        getter = getattr(config, "get", None)
        if getter is not None:
            node = getter("metaagent_advantage", None)
            norm = bool(getter("norm_adv_by_std_in_grpo", True))
    cfg = load_advantage_config(node, path="algorithm.metaagent_advantage")
    if node is None or "norm_by_std" not in node:
        cfg.norm_by_std = norm
    return cfg


def compute_metaagent_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    config: Optional[Any] = None,
    index: Optional[np.ndarray] = None,
    non_tensor_batch: Optional[dict[str, np.ndarray]] = None,
    adv_config: Optional[AdvantageConfig] = None,
    **_: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``metaagent`` estimator with verl's estimator signature.

    Args:
        token_level_rewards: ``(B, T)``.
        response_mask: ``(B, T)``.
        config: verl's ``algorithm`` config (unused when ``adv_config`` is given).
        index: ``(B,)`` uid (verl passes it; the hierarchy needs more, see ``non_tensor_batch``).
        non_tensor_batch: ``role`` / ``uid`` / ``design_uid`` / ``exec_uid`` arrays ``(B,)``. Required;
            verl's own ``compute_advantage`` does not pass it, ``MetaAgentRayTrainer`` does.
        adv_config: options; default derived from ``config``.

    Returns:
        ``(advantages, returns)``, each ``(B, T)``.
    """
    if non_tensor_batch is None:
        raise RuntimeError(
            "algorithm.adv_estimator=metaagent needs the rows' role/design_uid/exec_uid, which verl's stock "
            "compute_advantage does not pass to custom estimators. Launch with `python -m verl_metaagent.main` "
            "(MetaAgentRayTrainer computes the advantage itself)."
        )
    cfg = adv_config if adv_config is not None else adv_config_from_algorithm(config)
    advantages, returns, _ = metaagent_advantage_tensors(token_level_rewards, response_mask, non_tensor_batch, cfg)
    return advantages, returns


def register(core_algos_module) -> None:
    """Register ``metaagent`` with verl's advantage-estimator registry (idempotent)."""
    registry = getattr(core_algos_module, "ADV_ESTIMATOR_REGISTRY", {})
    if registry.get(ESTIMATOR_NAME) is compute_metaagent_advantage:
        return
    core_algos_module.register_adv_est(ESTIMATOR_NAME)(compute_metaagent_advantage)
