"""Where graded programs run: the project's sandbox (``metaagent_sandbox``, a top-level package that
imports nothing of the plugin, so grading never runs ``verl_metaagent``'s import hook)."""

from metaagent_sandbox import SandboxLimits, SandboxResult, active_protections, run_python

__all__ = ["SandboxLimits", "SandboxResult", "active_protections", "run_python"]
