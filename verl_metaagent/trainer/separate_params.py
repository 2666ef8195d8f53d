"""The separate-parameters ablation (``metaagent.parameters=separate``): pure rules.

With ``shared`` (the default, the paper's setting) one policy designs and executes. With
``separate`` the v1 trainer (``trainer.v1.trainer_mode=metaagent``) holds two policies, each with
its own actor worker group (own optimizer and LR scheduler), its own hybrid rollout replicas and its
own weight sync:

* the **executor** policy is verl's own ``actor_rollout_wg`` / ``llm_server_manager`` /
  ``checkpoint_manager`` and is checkpointed under verl's ``global_step_N/actor``;
* the **designer** policy is a second worker group on the same resource pool, with its own replicas
  (replica ranks after the executor's) and is checkpointed under ``global_step_N/designer_actor``.

The rollout sends designer generations to the designer replicas and agent calls inside designs to
the executor replicas. A step trains, per pass, the policy of the pass's role; after the step only
the policies of the roles in phase are synced to their replicas (a frozen policy gets no sync: the
release's hard freeze). This module holds the decisions (config checks, which policy a pass goes
to, which policies sync, where each is checkpointed, metric names, the resume check); the trainer
(:mod:`verl_metaagent.trainer.v1_trainer`) applies them. No verl / torch imports.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Sequence

from verl_metaagent.contract import ROLE_DESIGNER, ROLE_EXECUTOR, TRAINED_ROLES
from verl_metaagent.phases import PhaseConfig, phase_at
from verl_metaagent.utils.config_utils import ConfigError, require, select_path

SHARED = "shared"
SEPARATE = "separate"
#: values of ``metaagent.parameters``
PARAMETERS = (SHARED, SEPARATE)
KEY = "metaagent.parameters"

#: checkpoint sub-directory of each role's policy inside ``global_step_N``
ACTOR_DIRS = {ROLE_EXECUTOR: "actor", ROLE_DESIGNER: "designer_actor"}

#: set in the designer's actor workers: the first replica rank of the designer's rollout replicas, so
#: the trainer-side rollout adapter pushes the designer's weights to the designer's servers
REPLICA_RANK_OFFSET_ENV = "VERL_METAAGENT_REPLICA_RANK_OFFSET"

#: rollout engines whose trainer-side adapter honours :data:`REPLICA_RANK_OFFSET_ENV`
SUPPORTED_ROLLOUTS = ("cpu",)


def load_parameters(value: Any, path: str = KEY) -> str:
    """Validate ``metaagent.parameters`` (None = ``shared``).

    Raises:
        ConfigError: naming the key, the valid values and the fix.
    """
    value = SHARED if value is None else value
    require(
        isinstance(value, str) and value in PARAMETERS,
        path,
        f"must be one of {' / '.join(PARAMETERS)}, got {value!r}",
        f"set {path}=shared (one policy for both roles, the paper) or {path}=separate (the ablation)",
    )
    return value


def check_separate_config(config: Any, parameters: str, role_passes: str) -> None:
    """Start-up checks of ``metaagent.parameters=separate`` against the rest of the run config.

    Refused: the legacy trainer (``trainer.use_v1=false``: one ``RayPPOTrainer`` actor), an async
    trainer mode (only ``trainer.v1.trainer_mode=metaagent``, the synchronous one, drives two sets of
    replicas) and ``metaagent.actor_update.role_passes=mixed`` (a mixed pass cannot go to one policy).

    Raises:
        ConfigError: naming the key and the fix.
    """
    if parameters != SEPARATE:
        return
    use_v1 = select_path(config, "trainer.use_v1", True)
    require(
        not (use_v1 is False or str(use_v1).lower() == "false"),
        "trainer.use_v1",
        f"is false, but {KEY}=separate is built on verl's v1 trainer only (the legacy RayPPOTrainer owns one actor)",
        f"set trainer.use_v1=true (the default) or {KEY}=shared",
    )
    mode = str(select_path(config, "trainer.v1.trainer_mode", "metaagent"))
    require(
        mode == "metaagent",
        "trainer.v1.trainer_mode",
        f"is {mode!r}; {KEY}=separate runs on the synchronous mode only (the async mode's pause / resume of "
        "in-flight requests is not wired to the designer's replicas)",
        f"set trainer.v1.trainer_mode=metaagent or {KEY}=shared",
    )
    require(
        role_passes == "separate",
        "metaagent.actor_update.role_passes",
        f"is {role_passes!r}; with {KEY}=separate each role's rows update that role's own policy, so a pass that "
        "mixes both roles has no policy to go to",
        "set metaagent.actor_update.role_passes=separate (the default)",
    )


def check_rollout_engine(config: Any) -> None:
    """The rollout engine must let the designer's actor workers reach the designer's replicas.

    verl 0.9.1's vllm / sglang server adapters find their server by the worker's rank alone, so a
    second set of hybrid replicas would receive the executor's weights; our ``cpu`` adapter honours
    :data:`REPLICA_RANK_OFFSET_ENV`. Checked when the trainer builds the designer (GPU recipes
    still compose and dry-run).

    Raises:
        ConfigError: naming ``actor_rollout_ref.rollout.name``.
    """
    name = str(select_path(config, "actor_rollout_ref.rollout.name", ""))
    require(
        name in SUPPORTED_ROLLOUTS,
        "actor_rollout_ref.rollout.name",
        f"is {name!r}; {KEY}=separate needs a second set of hybrid rollout replicas whose trainer-side adapter "
        f"finds them, which verl 0.9.1's {name} adapter cannot (it derives the server from the worker rank only, so "
        "the designer's weights would reach the executor's servers); supported: "
        + ", ".join(SUPPORTED_ROLLOUTS),
        "run the ablation on actor_rollout_ref.rollout.name=cpu (VERL_PLATFORM=cpu, e.g. "
        f"python -m verl_metaagent.demo -- {KEY}=separate) or use {KEY}=shared",
    )


def pass_policy(roles: Sequence[str]) -> str:
    """The policy (role name) that trains an update pass of ``roles``.

    Raises:
        ValueError: a pass mixing both roles (refused at start by :func:`check_separate_config`).
    """
    roles = tuple(roles)
    if len(roles) != 1 or roles[0] not in TRAINED_ROLES:
        raise ValueError(f"with {KEY}=separate an update pass trains exactly one role, got {roles!r}")
    return roles[0]


def policies_to_sync(global_step: int, phase_config: Optional[PhaseConfig]) -> tuple[str, ...]:
    """The policies whose replicas get the new weights after training step ``global_step``: the roles
    in phase (alternate: one; simultaneous: both; designer_only / executor_only: that one). A
    frozen policy's replicas keep serving the weights of its last sync (hard freeze)."""
    active = phase_at(global_step, phase_config).active_roles
    return tuple(role for role in TRAINED_ROLES if role in active)


def actor_checkpoint_dir(step_dir: str, role: str) -> str:
    """``global_step_N/actor`` (executor, verl's own) or ``global_step_N/designer_actor``."""
    return os.path.join(step_dir, ACTOR_DIRS[role])


def role_actor_metrics(role: str, metrics: dict) -> dict:
    """Copies of one pass's actor metrics under the policy's own prefix: ``actor/x`` ->
    ``actor_{role}/x`` and ``perf/mfu/actor`` -> ``perf/mfu/actor_{role}`` (verl's tracker keeps
    one value per key, so the two policies' metrics must not share names)."""
    out = {}
    for key, value in metrics.items():
        if key.startswith("actor/"):
            out[f"actor_{role}/{key[len('actor/'):]}"] = value
        elif key == "perf/mfu/actor":
            out[f"perf/mfu/actor_{role}"] = value
    return out


def checkpoint_parameters(info: Optional[dict]) -> str:
    """``parameters`` of a checkpoint's ``metaagent_run.json`` record (absent: ``shared``, as every
    checkpoint written before this switch existed)."""
    if not info:
        return SHARED
    return str(info.get("parameters", SHARED))


def check_resume(step_dir: str, parameters: str, info: Optional[dict], existing: Iterable[str]) -> None:
    """Refuse to resume a checkpoint trained with the other ``metaagent.parameters`` value.

    Args:
        step_dir: the ``global_step_N`` folder being resumed.
        parameters: this run's ``metaagent.parameters``.
        info: the checkpoint's ``metaagent_run.json`` record (None if missing).
        existing: names of the sub-directories of ``step_dir``.

    Raises:
        ConfigError: naming ``metaagent.parameters`` and the fix.
    """
    has_designer = ACTOR_DIRS[ROLE_DESIGNER] in set(existing)
    trained = checkpoint_parameters(info) if info else (SEPARATE if has_designer else SHARED)
    if has_designer != (trained == SEPARATE):  # record and folders disagree: trust neither silently
        raise ConfigError(
            f"{step_dir}: metaagent_run.json says parameters={trained!r} but the folder "
            f"{'has' if has_designer else 'has no'} {ACTOR_DIRS[ROLE_DESIGNER]}/. "
            "Fix: resume from an intact checkpoint (trainer.resume_from_path=...) "
            "or start over with trainer.resume_mode=disable."
        )
    require(
        trained == parameters,
        KEY,
        f"is {parameters!r}, but the checkpoint to resume ({step_dir}) was trained with {KEY}={trained!r}"
        + (" (it has no designer policy to restore)" if parameters == SEPARATE
           else " (its designer policy would be dropped)"),
        f"set {KEY}={trained} to continue that run, or trainer.resume_mode=disable / another trainer.default_local_dir "
        "to start a new one",
    )


#: verl's checkpoint tracker (``verl.utils.checkpoint.checkpoint_manager``): the last complete step's number
TRACKER_FILE = "latest_checkpointed_iteration.txt"


def resume_folder(trainer: Any, cwd: Optional[str] = None) -> Optional[str]:
    """The ``global_step_N`` folder verl resumes from under ``trainer`` (the ``trainer`` config section), found
    as verl's ``find_latest_ckpt_path`` finds it; None for a fresh start (``resume_mode=disable``, no tracker
    file, or a tracker naming a missing folder). Relative paths are taken from ``cwd`` (default: the current
    directory), as verl takes them."""
    cwd = cwd or os.getcwd()
    mode = select_path(trainer, "resume_mode", "auto")
    if mode == "resume_path":
        path = select_path(trainer, "resume_from_path")
        return os.path.join(cwd, path) if isinstance(path, str) else None
    if mode != "auto":
        return None
    local_dir = select_path(trainer, "default_local_dir")
    if not isinstance(local_dir, str) or not local_dir:
        return None
    root = os.path.join(cwd, local_dir)
    try:
        with open(os.path.join(root, TRACKER_FILE), "rb") as f:
            step = int(f.read().decode().strip())
    except (OSError, ValueError):
        return None
    folder = os.path.join(root, f"global_step_{step}")
    return folder if os.path.isdir(folder) else None


def check_resume_config(config: Any) -> Optional[str]:
    """:func:`check_resume` for the checkpoint a composed config would resume; returns that
    :func:`resume_folder` (None on a fresh start).

    Runs before Ray in the preflight (a mismatch costs seconds, not a cluster start-up) and again in the
    trainer, which also serves launches that skip the preflight (stock ``main_ppo``)."""
    from verl_metaagent.trainer.provenance import read_run_info

    folder = resume_folder(select_path(config, "trainer", {}))
    if folder and os.path.isdir(folder):
        parameters = load_parameters(select_path(config, KEY, SHARED))
        check_resume(folder, parameters, read_run_info(os.path.join(folder, "actor")), os.listdir(folder))
    return folder


__all__ = [
    "PARAMETERS", "SHARED", "SEPARATE", "KEY", "ACTOR_DIRS", "REPLICA_RANK_OFFSET_ENV", "SUPPORTED_ROLLOUTS",
    "load_parameters", "check_separate_config", "check_rollout_engine", "pass_policy", "policies_to_sync",
    "actor_checkpoint_dir", "role_actor_metrics", "checkpoint_parameters", "check_resume", "TRACKER_FILE",
    "resume_folder", "check_resume_config",
]
