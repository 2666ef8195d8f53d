"""Evaluation, baselines, structure analysis and trace viewing for MetaAgent-X.

Modules, one job each:

* :mod:`.benchmarks` -- the six test benchmarks; load their verl parquet rows as problems.
* :mod:`.systems` -- single agent, CoT self-consistency at MetaAgent-X's call budget, fixed
  reference designs, MetaAgent-X design-then-execute; how each solves one problem.
* :mod:`.settings` -- sampling, tree shape and budgets of a run.
* :mod:`.runner` -- async, bounded, resumable evaluation writing per-attempt JSONL records.
* :mod:`.records` -- record / trace format and the append-only store.
* :mod:`.metrics` -- avg@k, pass@k, cost per problem and per solved problem (pure).
* :mod:`.table` -- markdown / CSV results table in the paper's layout.
* :mod:`.analysis` -- design patterns by benchmark and difficulty, design sizes, plots.
* :mod:`.viewer` -- static HTML page per attempt (design script, agent calls, rewards).
* :mod:`.connect` / :mod:`.transcript` -- clients and text output for ``metaagent solve``.

Python API::

    from verl_metaagent.eval import evaluate, load_problems, parse_systems, EvalSettings, make_client
    client = make_client(base_url="http://127.0.0.1:8000/v1", model="ckpt")
    problems = {"aime24": load_problems("aime24", "data/test/aime24.parquet")}
    evaluate(problems, parse_systems("single_agent,cot_sc,metaagent"), client, "outputs/eval", EvalSettings())

CLI: ``metaagent eval | report | view | solve`` (docs/evaluation.md).
"""

from __future__ import annotations

from verl_metaagent.utils.lazy import lazy_exports

_EXPORTS = {
    "BENCHMARKS": "benchmarks",
    "EvalProblem": "benchmarks",
    "load_problems": "benchmarks",
    "resolve_benchmarks": "benchmarks",
    "EvalSettings": "settings",
    "System": "systems",
    "parse_systems": "systems",
    "matched_sc_k": "systems",
    "evaluate": "runner",
    "evaluate_async": "runner",
    "EvalAborted": "runner",
    "RunStore": "records",
    "avg_at_k": "metrics",
    "pass_at_k": "metrics",
    "summarize_cells": "metrics",
    "summarize_systems": "metrics",
    "render_markdown": "table",
    "render_csv": "table",
    "write_tables": "table",
    "write_plots": "analysis",
    "write_report": "report",
    "render_analysis_markdown": "analysis",
    "write_trace_pages": "viewer",
    "render_trace_page": "viewer",
    "make_client": "connect",
    "format_result": "transcript",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
