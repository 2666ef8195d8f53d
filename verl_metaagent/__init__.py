"""verl-metaagent: MetaAgent-X as a verl plugin.

One policy model plays two roles: the *designer* writes a small Python script that builds a
multi-agent system for a task, and the *executor* answers every agent call inside that script.

Importing this package is cheap and does not import verl. It installs a post-import hook so
that our advantage estimator, CPU platform / rollout replica and agent loops register with
verl's registries as soon as verl loads them; this is what ``VERL_USE_EXTERNAL_MODULES=
verl_metaagent`` (or the ``verl.plugins`` entry point installed with this package) relies on.
Under verl's stock launcher (``python -m verl.trainer.main_ppo``) it also lets ``metaagent.*``
overrides through Hydra (:mod:`verl_metaagent.stock_launch`).
"""

from verl_metaagent._lazy_registration import install as _install_registrations
from verl_metaagent._lazy_registration import register_now

__version__ = "0.1.0"
__all__ = ["__version__", "register_now"]

_install_registrations()


def _adapt_stock_launch() -> None:
    from verl_metaagent.stock_launch import apply_to_stock_launch

    apply_to_stock_launch()


_adapt_stock_launch()
