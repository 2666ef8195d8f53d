"""``metaagent``: design-then-execute from the command line, and evaluate / report / view.

::

    metaagent solve "What is 17 * 23?" --base-url http://127.0.0.1:8000/v1 --model my-ckpt
    metaagent solve "What is 2+3?" --local-model outputs/model --design single_agent
    metaagent eval --out outputs/eval --data-dir data/test --systems all --base-url ... --model ...
    metaagent report --out outputs/eval        # results.md / .csv, analysis.md, plots/*.png
    metaagent view --out outputs/eval          # outputs/eval/view/index.html + one page per attempt

Every bad flag exits with status 2 and one line naming the flag and the fix. Details:
docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Optional, Sequence

from verl_metaagent.clients.cli_flags import add_retry_flags

RELEASE_HELP = ("settings of the public MetaAgent-X checkpoint (Mercury7353/MetaAgent-X): short designer prompt "
                "(--prompt-variant short) and Qwen3 thinking off; its designs use the release's workflow dialect, "
                "which runs unchanged")


class UsageError(ValueError):
    """A bad command line (exit status 2)."""


# ---------------------------------------------------------------------------------------------- options
def _client_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (one of --base-url or --local-model)")
    g.add_argument("--base-url",
                   help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (a `vllm serve` of a checkpoint)")
    g.add_argument("--model", help="served model name at --base-url")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the endpoint key (default %(default)s)")
    g.add_argument("--local-model",
                   help="Hugging Face model folder decoded on CPU instead of an endpoint (small models)")
    g.add_argument("--extra-body", help="JSON object merged into every endpoint request, e.g. '{\"top_k\": 20}'")
    g.add_argument("--no-thinking", action="store_true",
                   help="Qwen3 thinking off (chat_template_kwargs.enable_thinking=false)")
    g.add_argument("--release", action="store_true", help=RELEASE_HELP)
    add_retry_flags(g, max_concurrency=16)


def _sampling_options(p: argparse.ArgumentParser, *, eval_mode: bool) -> None:
    g = p.add_argument_group("sampling and tree")
    g.add_argument("--temperature", type=float, default=0.0,
                   help="sampling temperature of every call (0 = greedy; default %(default)s)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (default %(default)s)")
    g.add_argument("--max-tokens", type=int, default=4096, help="generation cap per LLM call (default %(default)s)")
    g.add_argument("--designs", type=int, default=1, help="designs per problem, M (default %(default)s)")
    g.add_argument("--executions", type=int, default=1, help="executions per design, N (default %(default)s)")
    g.add_argument("--select", choices=("first", "majority"), default="first",
                   help="answer of the first execution or the majority over all (default %(default)s)")
    g.add_argument("--prompt-variant", choices=("full", "short"), default=None,
                   help="designer prompt: full (API spec + few-shot; default) "
                   "or short (after cold-start SFT; --release)")
    g.add_argument("--seed", type=int, default=0, help="base seed of every call (default %(default)s)")
    g.add_argument("--max-agent-calls", type=int, default=16,
                   help="agent calls one execution may make (default %(default)s)")
    g.add_argument("--max-total-tokens", type=int, default=65536,
                   help="tokens one execution may use (default %(default)s)")
    g.add_argument("--wall-seconds", type=float, default=600.0,
                   help="wall-clock limit of one execution (default %(default)s)")


def _reward_module_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reward-module", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="load graders from this .py file or module (its @reward_fns.register calls; repeatable); "
                        "installed packages' 'reward_fns.graders' entry points load by themselves")


def _load_reward_modules(args) -> None:
    import reward_fns

    try:
        reward_fns.load_modules(args.reward_module)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metaagent",
        description="MetaAgent-X: design a multi-agent system for a problem, execute it, evaluate it.")
    sub = parser.add_subparsers(dest="command", metavar="{solve,eval,report,view}")

    p = sub.add_parser(
        "solve", help="design a multi-agent system for one problem, execute it, print design, transcript and answer")
    p.add_argument("problem", help="the problem text ('-' reads it from stdin)")
    p.add_argument("--task-type", choices=("math", "code"), default="math",
                   help="math (answer) or code (a program; default %(default)s)")
    p.add_argument("--design", help="execute this fixed design instead of asking the designer: a reference design name "
                   "(single_agent, ensemble_vote, ...) or a .py file")
    p.add_argument("--ground-truth", help="grade the answer against this (math answer, or code tests JSON)")
    p.add_argument("--data-source", default=None, help="grader for --ground-truth (default math/user or code/user)")
    p.add_argument("--public-tests", help="code tasks: JSON {\"inputs\": [...], \"outputs\": [...]} the design may run")
    _reward_module_option(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (answer, reward, cost, tree) instead of text")
    p.add_argument("--show-prompts", action="store_true",
                   help="print every call's full prompt (system prompt, history)")
    p.add_argument("--max-chars", type=int, default=2000,
                   help="clip printed messages to this many characters (0 = all)")
    _client_options(p)
    _sampling_options(p, eval_mode=False)

    p = sub.add_parser("eval", help="evaluate systems on the benchmarks (resumable), then write the report")
    p.add_argument("--out", required=True,
                   help="run folder: records.jsonl, traces.jsonl, results.md, ... (rerun to resume)")
    p.add_argument("--data-dir", help="folder with the test parquet files "
                   "(examples/data_prep/prepare_paper_data.sh writes <data>/test)")
    p.add_argument("--benchmark", action="append", default=[], metavar="NAME[=PATH]",
                   help="benchmark to run (repeatable): aime24, aime25, olympiadbench, apps, livecodebench_v6, "
                        "codecontests (file under --data-dir), or NAME=PATH for any file of verl rows")
    p.add_argument("--limit", type=int, help="first N problems of every benchmark")
    p.add_argument("--systems", default="single_agent,cot_sc,refs,metaagent",
                   help="comma list of all, single_agent, cot_sc, refs, ref:<name>, metaagent (default %(default)s)")
    p.add_argument("--samples", type=int, default=1,
                   help="attempts per problem, k of avg@k (needs --temperature > 0 when > 1)")
    p.add_argument("--sc-k", type=int, help="CoT self-consistency votes (default: "
                   "MetaAgent-X's mean LLM calls per problem on each benchmark)")
    p.add_argument("--sc-temperature", type=float, default=0.7,
                   help="temperature of the self-consistency votes (default %(default)s)")
    p.add_argument("--concurrency", type=int, default=8, help="attempts in flight (default %(default)s)")
    p.add_argument("--max-errors", type=int, default=20,
                   help="stop after this many failed attempts (default %(default)s)")
    p.add_argument("--label", default="",
                   help="name of the evaluated model, stored with the run (default: --model or --local-model)")
    p.add_argument("--no-traces", action="store_true", help="do not store traces (no trace viewer pages)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    _reward_module_option(p)
    _client_options(p)
    _sampling_options(p, eval_mode=True)

    p = sub.add_parser("report", help="results table (markdown + CSV), structure analysis and plots of a run folder")
    p.add_argument("--out", required=True, help="run folder of `metaagent eval`")
    p.add_argument("--title", default="Results", help="table title")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")

    p = sub.add_parser("view", help="static HTML trace pages (design script, agent calls, rewards) of a run folder")
    p.add_argument("--out", required=True, help="run folder of `metaagent eval`")
    p.add_argument("--dest", help="folder for the pages (default <out>/view)")
    p.add_argument("--system", action="append", default=[], help="only this system (repeatable), e.g. metaagent")
    p.add_argument("--benchmark", action="append", default=[], help="only this benchmark (repeatable)")
    p.add_argument("--problem", action="append", default=[], help="only this problem id (repeatable)")
    p.add_argument("--limit", type=int, help="at most N pages")
    return parser


# ---------------------------------------------------------------------------------------------- helpers
def _check_positive(args, *names: str) -> None:
    for name in names:
        value = getattr(args, name.replace("-", "_"), None)
        if value is not None and value <= 0:
            raise UsageError(f"--{name} must be > 0, got {value}")


def _client(args):
    from verl_metaagent.eval.connect import make_client, parse_extra_body

    _check_positive(args, "max-concurrency", "timeout", "max-tokens")
    if args.max_retries < 0:
        raise UsageError(f"--max-retries must be >= 0, got {args.max_retries}")
    try:
        return make_client(base_url=args.base_url, model=args.model, local_model=args.local_model,
                           api_key_env=args.api_key_env or None, max_concurrency=args.max_concurrency,
                           max_retries=args.max_retries, timeout=args.timeout,
                           extra_body=parse_extra_body(args.extra_body),
                           disable_thinking=args.no_thinking or args.release, max_tokens=args.max_tokens)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _prompt_variant(args) -> str:
    if args.prompt_variant:
        return args.prompt_variant
    return "short" if args.release else "full"


def _budget(args):
    from verl_metaagent.rollout.config import BudgetConfig

    _check_positive(args, "max-agent-calls", "max-total-tokens", "wall-seconds")
    return BudgetConfig(max_agent_calls=args.max_agent_calls, max_total_tokens=args.max_total_tokens,
                        wall_seconds=args.wall_seconds)


def _read_design(spec: str) -> str:
    from verl_metaagent.design.reference import REFERENCE_DESIGNS, load_reference

    if spec in REFERENCE_DESIGNS:
        return load_reference(spec)
    if os.path.isfile(spec):
        with open(spec, encoding="utf-8") as fh:
            return fh.read()
    raise UsageError(f"--design {spec!r} is neither a reference design ({', '.join(REFERENCE_DESIGNS)}) nor a file")


# ---------------------------------------------------------------------------------------------- commands
async def _solve(args) -> int:
    from verl_metaagent.eval.connect import close_client
    from verl_metaagent.eval.transcript import format_result, result_to_json
    from verl_metaagent.rollout.config import SamplingConfig
    from verl_metaagent.solve import solve_async, solve_config

    problem = sys.stdin.read() if args.problem == "-" else args.problem
    if not problem or not problem.strip():
        raise UsageError("the problem text is empty; pass it as the first argument or '-' with text on stdin")
    if args.temperature < 0 or not 0 < args.top_p <= 1:
        raise UsageError("--temperature must be >= 0 and --top-p in (0, 1]")
    _check_positive(args, "designs", "executions")
    design = _read_design(args.design) if args.design else None
    _load_reward_modules(args)
    data_source = args.data_source or f"{args.task_type}/user"
    if args.ground_truth is not None:  # a grader for it, before any LLM call
        import reward_fns

        try:
            reward_fns.check_graders([data_source], "--data-source")
        except reward_fns.UnknownDataSource as exc:
            raise UsageError(str(exc)) from None
    extra_info = {}
    if args.public_tests:
        try:
            json.loads(args.public_tests)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--public-tests is not JSON ({exc.msg})") from None
        extra_info["public_tests"] = args.public_tests
    sampling = SamplingConfig(temperature=args.temperature, top_p=args.top_p)
    try:
        config = solve_config(num_designs=args.designs, num_executions=args.executions, select=args.select,
                              prompt_variant=_prompt_variant(args), designer_sampling=sampling,
                              executor_sampling=sampling, budget=_budget(args), seed=args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from verl_metaagent.rollout.code_tests import api_test_runner_factory

    client = _client(args)
    try:
        result = await solve_async(problem, client, task_type=args.task_type,
                                   test_runner_factory=api_test_runner_factory() if args.task_type == "code" else None,
                                   data_source=data_source,
                                   ground_truth=args.ground_truth, extra_info=extra_info, design=design,
                                   max_tokens=args.max_tokens, config=config)
    finally:
        await close_client(client)
    if args.json:
        print(json.dumps(result_to_json(result), ensure_ascii=False))
    else:
        print(format_result(result, max_chars=args.max_chars, show_prompts=args.show_prompts))
    return 0 if result.answer is not None else 1


async def _eval(args) -> int:
    from verl_metaagent.eval.benchmarks import load_problems, resolve_benchmarks
    from verl_metaagent.eval.connect import close_client
    from verl_metaagent.eval.report import write_report
    from verl_metaagent.eval.runner import evaluate_async
    from verl_metaagent.eval.settings import EvalSettings
    from verl_metaagent.eval.systems import parse_systems
    from verl_metaagent.eval.table import render_markdown
    from verl_metaagent.eval.records import RunStore

    _load_reward_modules(args)
    try:
        systems = parse_systems(args.systems)
        problems = {name: load_problems(name, path, limit=args.limit)
                    for name, path in resolve_benchmarks(args.benchmark, args.data_dir)}
        settings = EvalSettings(samples=args.samples, temperature=args.temperature, top_p=args.top_p,
                                max_tokens=args.max_tokens, sc_k=args.sc_k, sc_temperature=args.sc_temperature,
                                num_designs=args.designs, num_executions=args.executions, select=args.select,
                                prompt_variant=_prompt_variant(args), budget=_budget(args), seed=args.seed,
                                concurrency=args.concurrency, max_errors=args.max_errors,
                                model=args.label or args.model or args.local_model or "").validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    client = _client(args)
    print(f"evaluating {', '.join(s.id for s in systems)} on "
          + ", ".join(f"{b} ({len(p)})" for b, p in problems.items()) + f" -> {args.out}", file=sys.stderr)
    try:
        try:
            report = await evaluate_async(problems, systems, client, args.out, settings,
                                          progress=not args.no_progress, keep_traces=not args.no_traces)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    finally:
        await close_client(client)
    print(f"attempts: {report.total} ({report.skipped} already done, {report.ran} run now, {report.errors} failed)",
          file=sys.stderr)
    for note in report.notes:
        print(note, file=sys.stderr)
    if report.errors:
        print(f"{report.errors} attempts failed (see {os.path.join(args.out, 'errors.jsonl')}); "
              "rerun the same command to retry them", file=sys.stderr)
    if not args.no_report and RunStore(args.out).load_records():
        write_report(args.out)
        print(render_markdown(RunStore(args.out).load_records()))
    return 1 if report.errors else 0


def _report(args) -> int:
    from verl_metaagent.eval.records import RunStore
    from verl_metaagent.eval.report import write_report
    from verl_metaagent.eval.table import render_markdown

    try:
        paths = write_report(args.out, title=args.title, plots=not args.no_plots)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(render_markdown(RunStore(args.out).load_records(), title=args.title))
    print("wrote " + ", ".join(sorted(paths.values())), file=sys.stderr)
    return 0


def _view(args) -> int:
    from verl_metaagent.eval.records import RunStore
    from verl_metaagent.eval.viewer import write_trace_pages

    store = RunStore(args.out)
    records = store.load_records()
    if not records:
        raise UsageError(f"{store.records.path} has no records; run `metaagent eval --out {args.out}` first")
    traces = store.load_traces()
    if not traces:
        raise UsageError(f"{store.traces.path} has no traces (was the run made with --no-traces?)")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1, got {args.limit}")
    dest = args.dest or os.path.join(args.out, "view")
    pages = write_trace_pages(records, traces, dest, systems=args.system, benchmarks=args.benchmark,
                              problems=args.problem, limit=args.limit)
    print(f"wrote {len(pages) - 1} pages; open {pages[-1]}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``metaagent`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        if args.command == "solve":
            return asyncio.run(_solve(args))
        if args.command == "eval":
            return asyncio.run(_eval(args))
        if args.command == "report":
            return _report(args)
        return _view(args)
    except UsageError as exc:
        print(f"metaagent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"metaagent {args.command}: interrupted (finished attempts are kept; rerun to continue)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - endpoint / runtime failures: one clear line, no traceback
        from verl_metaagent.eval.runner import EvalAborted

        kind = "stopped" if isinstance(exc, EvalAborted) else f"failed ({type(exc).__name__})"
        print(f"metaagent {args.command}: {kind}: {exc}", file=sys.stderr)
        if os.environ.get("METAAGENT_DEBUG"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())
