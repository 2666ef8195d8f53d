"""Entry point: ``python -m verl_metaagent.main [hydra overrides]``.

A thin wrapper over verl's own launcher: the config is ``verl_metaagent/config/metaagent_trainer.yaml``
= verl's ``ppo_trainer`` (found through ``hydra.searchpath: pkg://verl.trainer.config``) + the
``metaagent`` group, with ``trainer.use_v1=true`` and ``trainer.v1.trainer_mode=metaagent``; it runs
verl's own ``TaskRunnerV1`` exactly as ``python -m verl.trainer.main_ppo trainer.v1.trainer_mode=metaagent``
would, after checking the config here, before Ray starts (errors name the key and the fix).

``trainer.use_v1=false`` runs the legacy ``MetaAgentRayTrainer`` (verl's deprecated ``RayPPOTrainer``
loop), kept as a tested fallback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

import hydra

from verl_metaagent.config import CONFIG_DIR


def check_config(config) -> str:
    """All start-up checks (ours and verl's); returns ``"v1"`` or ``"legacy"``.

    Raises:
        ConfigError: naming the key and the fix (also verl's own validation errors).
    """
    from omegaconf import OmegaConf

    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from verl_metaagent.config.schema import validate_run_config
    from verl_metaagent.trainer.v1_trainer import TRAINER_MODE, TRAINER_MODES, prepare_v1_config
    from verl_metaagent.utils.config_utils import require

    use_v1 = bool(OmegaConf.select(config, "trainer.use_v1", default=True))
    if use_v1:
        mode = str(OmegaConf.select(config, "trainer.v1.trainer_mode", default=TRAINER_MODE))
        require(
            mode in TRAINER_MODES,
            "trainer.v1.trainer_mode",
            f"is {mode!r}; python -m verl_metaagent.main runs a MetaAgent-X mode of verl's v1 trainer "
            f"({', '.join(TRAINER_MODES)})",
            f"remove the override (or set trainer.v1.trainer_mode={TRAINER_MODE}); "
            "for plain verl use python -m verl.trainer.main_ppo",
        )
        prepare_v1_config(config)
    else:
        from verl_metaagent.trainer.ray_trainer import check_trainer_features

        validate_run_config(config)
        check_trainer_features(config)
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    return "v1" if use_v1 else "legacy"


@contextlib.contextmanager
def _quiet_verl_imports():
    """verl prints ~10 lines of import-time warnings (accelerator probing, optional engines); keep them
    out of the way of a configuration error, which must be the last thing printed."""
    loggers = [logging.getLogger(name) for name in ("", "verl")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


@hydra.main(config_path=CONFIG_DIR, config_name="metaagent_trainer", version_base=None)
def main(config) -> None:
    from verl_metaagent.config.preflight import preflight
    from verl_metaagent.utils.config_utils import ConfigError

    os.environ.setdefault("VERL_USE_EXTERNAL_MODULES", "verl_metaagent")  # registrations inside Ray workers
    try:
        preflight(config)  # data files, model path, numbers, lengths: before verl is even imported
        with _quiet_verl_imports():
            from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
            from verl.utils.device import auto_set_device

            auto_set_device(config)
            path = check_config(config)
    except ConfigError as exc:
        print(f"verl_metaagent: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if path == "v1":
        run_ppo(config, task_runner_class=TaskRunnerV1)
    else:
        from verl_metaagent.trainer.task_runner import MetaAgentTaskRunner

        print(
            "verl_metaagent: trainer.use_v1=false runs the legacy MetaAgentRayTrainer (verl's deprecated RayPPOTrainer "
            "loop); it is kept as a fallback, the v1 trainer mode is the default",
            file=sys.stderr,
        )
        run_ppo(config, task_runner_class=MetaAgentTaskRunner)


if __name__ == "__main__":
    main()
