"""Hierarchical advantage: pure numpy functions (:mod:`.core`) + verl registration (:mod:`.verl_glue`)."""

from verl_metaagent.advantage.core import AdvantageConfig, compute_advantages

__all__ = ["AdvantageConfig", "compute_advantages"]
