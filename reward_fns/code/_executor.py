"""Where graded programs run: the project's sandbox (``verl_metaagent.sandbox``)."""

from verl_metaagent.sandbox import SandboxLimits, SandboxResult, active_protections, run_python

__all__ = ["SandboxLimits", "SandboxResult", "active_protections", "run_python"]
