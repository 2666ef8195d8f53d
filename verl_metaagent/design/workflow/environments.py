"""The release's ``utils.environments`` for designs, backed by our sandboxed runner.

The released model's designs begin with ``from utils.environments.math_env import
MathEnvironment`` and register ``MathEnvironment(timeout=120).execute`` as their
``python_execute`` tool; some import ``SearchEnvironment`` from ``utils.environments.search_env``.
These classes have the release's call signatures and return the release's strings, but:

* ``MathEnvironment.execute(code)`` never runs code in the design's process: it sends the program
  to the parent (``run_tests`` with one test without expected output, like
  :func:`verl_metaagent.design.api.run_code`), which runs it in its own sandbox with its own
  limits. The ``timeout`` and ``work_dir`` arguments are accepted and only echoed in messages.
* ``SearchEnvironment`` has no network (designs never do): ``search`` and ``fetch`` return the
  release's error-string shape, so an agent reads why and goes on.

Inside the sandbox :func:`release_modules` becomes importable as ``utils``,
``utils.environments``, ``utils.environments.math_env`` and ``utils.environments.search_env``
(:func:`verl_metaagent.design.workflow.install_alias`).
"""

from __future__ import annotations

import types as _types
from typing import Optional

from verl_metaagent.design import _transport, api

__all__ = ["MathEnvironment", "SearchEnvironment", "get_math_environment", "python_execute", "release_modules"]

#: Longest program output shown to an agent (characters).
MAX_OUTPUT_CHARS = 4000


def _execute(code: str, timeout: float) -> str:
    """Run ``code`` once in the parent's sandbox; the release's result strings."""
    try:
        report = api.run_tests(str(code), [{"input": "", "output": None}])
    except _transport.TransportError as exc:  # e.g. no runner for this task: an error string, as the release returns
        return f"Error executing code: {type(exc).__name__}: {exc}"
    result = report.results[0] if report.results and isinstance(report.results[0], dict) else {}
    stdout = str(result.get("stdout") or result.get("output") or "").strip()
    error = str(result.get("stderr") or result.get("error") or "").strip()
    if result.get("status") == "timeout":
        return f"Error: Code execution timed out after {timeout:g} seconds"
    if error or result.get("exit_code") not in (None, 0):
        code_text = result.get("exit_code")
        return api._truncate(
            f"Error executing code (exit code {1 if code_text is None else code_text}):\n{error or 'Unknown error'}",
            MAX_OUTPUT_CHARS)
    if stdout:
        return api._truncate(f"Code executed successfully.\nOutput: {stdout}", MAX_OUTPUT_CHARS)
    return "Code executed successfully. No output produced."


class MathEnvironment:
    """The release's Python code executor (``utils.environments.math_env.MathEnvironment``).

    Args:
        timeout: seconds, as in the release (the parent's sandbox limits are what apply).
        work_dir: accepted for compatibility; programs run in the parent's throw-away directory.
    """

    def __init__(self, timeout: int = 120, work_dir: Optional[str] = None):
        self.timeout = timeout
        self.work_dir = work_dir

    def execute(self, code: str) -> str:
        """Run ``code``; ``"Code executed successfully.\\nOutput: ..."``, ``"... No output produced."``,
        ``"Error executing code (exit code N):\\n<stderr>"`` or ``"Error: Code execution timed out ..."``."""
        return _execute(code, float(self.timeout))


_DEFAULT: Optional[MathEnvironment] = None


def get_math_environment(timeout: int = 120) -> MathEnvironment:
    """The shared :class:`MathEnvironment` (created on first use), as in the release."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = MathEnvironment(timeout=timeout)
    return _DEFAULT


def python_execute(code: str) -> str:
    """The release's module-level tool: :meth:`MathEnvironment.execute` of the shared environment."""
    return get_math_environment().execute(code)


class SearchEnvironment:
    """The release's web search tool (``utils.environments.search_env.SearchEnvironment``), offline.

    Designs have no network, so every call returns an error string of the release's shape.
    """

    def __init__(self, serper_key: Optional[str] = None):
        self.serper_key = serper_key

    def search(self, query: str, filter_year: Optional[int] = None, filter_date: Optional[str] = None) -> str:
        """``"Search error: ..."``: web search is not available to designs."""
        return "Search error: web search is not available in this sandbox (designs have no network access)"

    def fetch(self, url: str) -> str:
        """``"Fetch error: ..."``: fetching pages is not available to designs."""
        return f"Fetch error: cannot fetch {url!r}: designs have no network access"


def release_modules() -> dict[str, _types.ModuleType]:
    """Module objects for the release's ``utils.environments`` package tree (name -> module)."""
    math_env = _types.ModuleType("utils.environments.math_env", "The release's math_env, backed by the sandbox.")
    math_env.MathEnvironment = MathEnvironment
    math_env.get_math_environment = get_math_environment
    math_env.python_execute = python_execute
    search_env = _types.ModuleType("utils.environments.search_env", "The release's search_env, offline.")
    search_env.SearchEnvironment = SearchEnvironment
    environments = _types.ModuleType("utils.environments", "The release's environments package.")
    environments.__path__ = []
    environments.math_env, environments.search_env = math_env, search_env
    environments.SearchEnvironment = SearchEnvironment  # the release's package exports it
    utils = _types.ModuleType("utils", "The release's utils package (environments only).")
    utils.__path__ = []
    utils.environments = environments
    return {
        "utils": utils,
        "utils.environments": environments,
        "utils.environments.math_env": math_env,
        "utils.environments.search_env": search_env,
    }
