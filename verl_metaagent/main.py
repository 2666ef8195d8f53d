"""Entry point: ``python -m verl_metaagent.main [hydra overrides]``.

Config: ``verl_metaagent/config/metaagent_trainer.yaml`` = verl's ``ppo_trainer`` (found through
``hydra.searchpath: pkg://verl.trainer.config``) + the ``metaagent`` group, with
``algorithm.adv_estimator=metaagent``, ``rollout.n=1`` and the hierarchical rollout manager set.
Every verl override works as with ``python -m verl.trainer.main_ppo``. Misconfigurations fail
here, before Ray starts, with the key and the fix.
"""

from __future__ import annotations

import os
import sys

import hydra

from verl_metaagent.config import CONFIG_DIR


def check_config(config) -> None:
    """All start-up checks (ours and verl's); raises ``ConfigError`` / verl's errors."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from verl_metaagent.config.schema import validate_run_config
    from verl_metaagent.trainer.ray_trainer import check_trainer_features

    validate_run_config(config)
    check_trainer_features(config)
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))


@hydra.main(config_path=CONFIG_DIR, config_name="metaagent_trainer", version_base=None)
def main(config) -> None:
    from verl.trainer.main_ppo import run_ppo
    from verl.utils.device import auto_set_device

    from verl_metaagent.trainer.task_runner import MetaAgentTaskRunner
    from verl_metaagent.utils.config_utils import ConfigError

    os.environ.setdefault("VERL_USE_EXTERNAL_MODULES", "verl_metaagent")  # registrations inside Ray workers
    auto_set_device(config)
    try:
        check_config(config)
    except ConfigError as exc:
        print(f"verl_metaagent: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    run_ppo(config, task_runner_class=MetaAgentTaskRunner)


if __name__ == "__main__":
    main()
