"""``python -m verl_metaagent.distill <command>``: distil, export, convert, check the SFT recipe.

    # distil from a teacher (key in $TEACHER_API_KEY); resumable: run the same command again
    python -m verl_metaagent.distill run --problems data/train_mixed.parquet --out data/cold_start \\
        --base-url https://api.deepseek.com/v1 --model deepseek-chat --price-in 0.28 --price-out 0.42

    # re-draw the final set from the journal (other targets / caps), add existing ShareGPT data
    python -m verl_metaagent.distill export --out data/cold_start --add release_designer.jsonl --sharegpt

    # our parquet -> the release's ShareGPT records
    python -m verl_metaagent.distill to-sharegpt data/cold_start/designer.parquet --output designer.jsonl

    # compose + validate the SFT recipe (no GPU)
    python -m verl_metaagent.distill check-recipe --recipe sft_cold_start_qwen3_4b --check-data

Exit status 2 and one ``error:`` line naming the flag and the fix on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Optional

from verl_metaagent.clients.cli_flags import add_retry_flags, parse_extra_body

__all__ = ["main", "build_parser"]


def _add_export_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("final set (export)")
    g.add_argument("--target-designer", type=int, default=3000, help="designer samples to keep (paper 3K; 0 = all)")
    g.add_argument("--target-executor", type=int, default=8000, help="executor samples to keep (paper 8K; 0 = all)")
    g.add_argument("--designer-per-problem", type=int, default=2,
                   help="at most this many designer samples per problem (0 = no cap)")
    g.add_argument("--executor-per-problem", type=int, default=8,
                   help="at most this many executor samples per problem (0 = no cap)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the problem order (--shuffle) and the pattern-balanced pick")
    g.add_argument("--sharegpt", action="store_true",
                   help="also write designer.jsonl / executor.jsonl in the release's ShareGPT format")
    g.add_argument("--sharegpt-system-prompt", default=None, help="system turn for ShareGPT records that have none")
    g.add_argument("--add", nargs="*", default=[], metavar="FILE",
                   help="existing samples to merge: ShareGPT .jsonl/.json (the release's records) or our SFT .parquet")
    g.add_argument("--keep-system", action="store_true", help="keep the system turn of imported designer records "
                   "(default: drop it; our short prompt has none)")
    g.add_argument("--no-validate-designs", action="store_true",
                   help="keep imported designs our validator rejects (not recommended)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every subcommand and flag)."""
    parser = argparse.ArgumentParser(prog="python -m verl_metaagent.distill", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="distil designer/executor samples from a teacher endpoint (resumable)")
    run.add_argument("--problems", nargs="+", required=True, metavar="PARQUET",
                     help="verl RL parquet(s) of problems (examples/data_prep)")
    run.add_argument("--out", required=True, help="output folder: journal.jsonl, designer/executor.parquet, stats.json")
    t = run.add_argument_group("teacher endpoint")
    t.add_argument("--base-url", default=os.environ.get("TEACHER_BASE_URL", ""),
                   help="OpenAI-compatible base URL (default $TEACHER_BASE_URL)")
    t.add_argument("--model", default=os.environ.get("TEACHER_MODEL", ""),
                   help="served model name (default $TEACHER_MODEL)")
    t.add_argument("--api-key-env", default="TEACHER_API_KEY",
                   help="environment variable holding the API key ('' = no key)")
    add_retry_flags(t, max_concurrency=32)
    t.add_argument("--backoff-base", type=float, default=1.0,
                   help="first backoff (seconds, doubled per retry, jittered)")
    t.add_argument("--backoff-cap", type=float, default=60.0, help="longest backoff (seconds)")
    t.add_argument("--price-in", type=float, default=0.0, help="USD per million prompt tokens (cost tally)")
    t.add_argument("--price-out", type=float, default=0.0, help="USD per million completion tokens (cost tally)")
    t.add_argument("--extra-body", default="",
                   help='JSON merged into every request, e.g. \'{"chat_template_kwargs": {"enable_thinking": false}}\'')
    r = run.add_argument_group("tree")
    r.add_argument("--num-designs", type=int, default=4, help="M designs per problem")
    r.add_argument("--num-executions", type=int, default=4, help="N executions per valid design")
    r.add_argument("--designer-temperature", type=float, default=1.0)
    r.add_argument("--designer-top-p", type=float, default=0.9)
    r.add_argument("--executor-temperature", type=float, default=0.6)
    r.add_argument("--executor-top-p", type=float, default=0.95)
    r.add_argument("--max-tokens", type=int, default=8192, help="generation cap per call")
    r.add_argument("--max-agent-calls", type=int, default=16, help="agent calls per execution")
    r.add_argument("--wall-seconds", type=float, default=600.0, help="wall-clock limit per execution")
    r.add_argument("--max-problems-in-flight", type=int, default=8, help="problems grown concurrently")
    r.add_argument("--max-concurrent-executions", type=int, default=16, help="sandboxed executions at once")
    r.add_argument("--max-attempts", type=int, default=3,
                   help="give a problem up after this many failed attempts (over restarts)")
    r.add_argument("--limit", type=int, default=0, help="use the first N problems (after --shuffle; 0 = all)")
    r.add_argument("--shuffle", action="store_true", help="seeded shuffle of the problems (--seed)")
    r.add_argument("--oversample", type=float, default=1.25, help="stop once the candidate pools hold target x this")
    s = run.add_argument_group("selection")
    s.add_argument("--min-design-reward", type=float, default=0.5,
                   help="keep designs whose mean execution reward is at least this")
    s.add_argument("--min-execution-reward", type=float, default=1.0,
                   help="keep agents' chats of executions with at least this reward")
    s.add_argument("--designer-prompt", choices=("short", "teacher"), default="short",
                   help="prompt stored with designer samples: the short prompt the SFT model is run with (default) "
                   "or the teacher's full prompt")
    s.add_argument("--allow-empty-think", action="store_true", help="keep designer answers without a <think> analysis")
    s.add_argument("--keep-executor-thinking", action="store_true", help="keep <think> blocks in executor replies")
    _add_export_flags(run)
    run.add_argument("--no-export", action="store_true", help="only journal; export later with the export command")
    run.add_argument("--reward-module", action="append", default=[], metavar="FILE_OR_MODULE",
                     help="load graders from this .py file or module (its @reward_fns.register calls; repeatable)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    exp = sub.add_parser("export", help="draw the final set from the journal (+ --add files) and write parquet")
    exp.add_argument("--out", required=True, help="folder with journal.jsonl (written by run); output goes there too")
    _add_export_flags(exp)

    conv = sub.add_parser("to-sharegpt", help="convert our SFT parquet to the release's ShareGPT JSONL")
    conv.add_argument("inputs", nargs="+", metavar="PARQUET")
    conv.add_argument("--output", required=True, help="output .jsonl")
    conv.add_argument("--system-prompt", default=None, help="system turn for records that have none")

    chk = sub.add_parser("check-recipe", help="compose and validate an SFT recipe (no GPU, no training)")
    chk.add_argument("--recipe", default="sft_cold_start_qwen3_4b", help="recipe name (recipes/sft_*.yaml) or path")
    chk.add_argument("--recipes-dir", default=None)
    chk.add_argument("--check-data", action="store_true", help="also read data.train_files")
    chk.add_argument("--check-model", action="store_true", help="also load the model's HF config and tokenizer")
    chk.add_argument("--quiet", action="store_true", help="do not print the resolved config")
    chk.add_argument("overrides", nargs="*", help="hydra overrides, e.g. data.max_length=8192")
    return parser


def _export_config(args):
    from verl_metaagent.distill.export import ExportConfig

    return ExportConfig(
        target_designer=args.target_designer,
        target_executor=args.target_executor,
        designer_per_problem=args.designer_per_problem,
        executor_per_problem=args.executor_per_problem,
        seed=args.seed,
        sharegpt=args.sharegpt,
        sharegpt_system_prompt=args.sharegpt_system_prompt,
    ).validate()


def _load_added(args) -> list:
    from verl_metaagent.distill.export import read_sft_parquet
    from verl_metaagent.distill.sharegpt import read_sharegpt

    samples = []
    for path in args.add:
        if not os.path.isfile(path):
            raise ValueError(f"--add {path}: no such file")
        if path.endswith(".parquet"):
            got = read_sft_parquet(path)
            print(f"{path}: read {len(got)} samples", file=sys.stderr)
        elif path.endswith((".jsonl", ".json")):
            got, report = read_sharegpt(path, keep_system=args.keep_system,
                                        validate_designs=not args.no_validate_designs)
            print(report.summary(), file=sys.stderr)
        else:
            raise ValueError(f"--add {path}: unknown file type; use ShareGPT .jsonl/.json or our SFT .parquet")
        samples.extend(got)
    return samples


def _print_export(report) -> None:
    for role in ("designer", "executor"):
        c = report.designer if role == "designer" else report.executor
        patterns = ", ".join(f"{k} {v}" for k, v in sorted(report.patterns.get(role, {}).items()))
        print(
            f"{role}: {c['kept']} kept of {c['candidates']} candidates (duplicates {c['duplicates']}, "
            f"over per-problem cap {c['over_problem_cap']}, over target {c['over_target']}); "
            f"patterns: {patterns or '-'} -> {report.files[role]}",
            file=sys.stderr,
        )


def _cmd_run(args) -> int:
    from verl_metaagent.distill.runner import DistillConfig, TeacherConfig, run_distill
    from verl_metaagent.distill.select import SelectionConfig

    import reward_fns

    reward_fns.load_modules(args.reward_module)  # graders for the problems' data sources (checked by run_distill)
    extra_body = parse_extra_body(args.extra_body)
    config = DistillConfig(
        problems=list(args.problems),
        out=args.out,
        teacher=TeacherConfig(
            base_url=args.base_url, model=args.model, api_key_env=args.api_key_env or None,
            max_concurrency=args.max_concurrency, max_retries=args.max_retries, timeout=args.timeout,
            backoff_base=args.backoff_base, backoff_cap=args.backoff_cap,
            price_in=args.price_in, price_out=args.price_out, extra_body=extra_body,
        ),
        num_designs=args.num_designs, num_executions=args.num_executions,
        designer_temperature=args.designer_temperature, designer_top_p=args.designer_top_p,
        executor_temperature=args.executor_temperature, executor_top_p=args.executor_top_p,
        max_tokens=args.max_tokens, max_agent_calls=args.max_agent_calls, wall_seconds=args.wall_seconds,
        max_problems_in_flight=args.max_problems_in_flight, max_concurrent_executions=args.max_concurrent_executions,
        max_attempts=args.max_attempts, oversample=args.oversample, limit=args.limit, shuffle=args.shuffle,
        seed=args.seed,
        selection=SelectionConfig(
            min_design_reward=args.min_design_reward, min_execution_reward=args.min_execution_reward,
            require_think=not args.allow_empty_think, strip_executor_thinking=not args.keep_executor_thinking,
            designer_prompt=args.designer_prompt,
        ),
        export=_export_config(args),
    ).validate()
    if config.teacher.api_key_env and not os.environ.get(config.teacher.api_key_env):
        print(f"note: ${config.teacher.api_key_env} is not set; requests go without an API key", file=sys.stderr)
    added = _load_added(args)  # fail on bad --add files before paying the teacher

    async def main_task():
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        return await run_distill(config, progress=not args.no_progress)

    try:
        summary = asyncio.run(main_task())
    except asyncio.CancelledError:
        print("interrupted: journaled problems are kept; run the same command again to resume", file=sys.stderr)
        return 130
    usage = summary.usage
    print(
        f"problems: {summary.done} done this run, {summary.skipped_done} already journaled, {summary.errors} failed "
        f"(retried on the next run), {summary.skipped_gave_up} given up; "
        f"{'stopped at the targets' if summary.stopped_at_target else 'problems exhausted'} in {summary.seconds:.0f}s",
        file=sys.stderr,
    )
    print(
        f"endpoint this run: {usage.get('calls', 0)} calls, {usage.get('total_tokens', 0)} tokens, "
        f"{usage.get('retries', 0)} retries, "
        f"{usage.get('failures', 0)} failures, ${usage.get('cost_usd', 0.0):.4f}; journaled trees in total: "
        f"{int(summary.journal_usage.get('prompt_tokens', 0) + summary.journal_usage.get('completion_tokens', 0))} "
        f"tokens, ${summary.journal_usage.get('cost_usd', 0.0):.4f}",
        file=sys.stderr,
    )
    if summary.first_error:
        print(f"first error: {summary.first_error[:500]}", file=sys.stderr)
    if not args.no_export:
        from verl_metaagent.distill.export import export

        _print_export(export(config.out, config.export, extra=added))
    return 0


def _cmd_export(args) -> int:
    from verl_metaagent.distill.export import JOURNAL_NAME, export

    config = _export_config(args)
    added = _load_added(args)
    if not added and not os.path.isfile(os.path.join(args.out, JOURNAL_NAME)):
        raise ValueError(f"--out {args.out}: no {JOURNAL_NAME} there and nothing to --add; "
                         "run the run command first or pass --add FILE")
    _print_export(export(args.out, config, extra=added))
    return 0


def _cmd_to_sharegpt(args) -> int:
    from verl_metaagent.distill.export import read_sft_parquet
    from verl_metaagent.distill.sharegpt import write_sharegpt

    samples = []
    for path in args.inputs:
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such parquet")
        samples.extend(read_sft_parquet(path))
    n = write_sharegpt(samples, args.output, system_prompt=args.system_prompt)
    print(f"wrote {n} records to {args.output}", file=sys.stderr)
    return 0


def _cmd_check_recipe(args) -> int:
    from omegaconf import OmegaConf

    from verl_metaagent.distill.recipe import compose_sft_recipe, validate_sft_config

    cfg = compose_sft_recipe(args.recipe, args.overrides, recipes_dir=args.recipes_dir)
    checks = validate_sft_config(cfg, check_data=args.check_data, check_model=args.check_model)
    if not args.quiet:
        print(OmegaConf.to_yaml(cfg, resolve=True))
    print(f"{args.recipe}: OK ({'; '.join(checks)})", file=sys.stderr)
    return 0


def main(argv: Optional[list] = None) -> int:
    """CLI entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    handler = {"run": _cmd_run, "export": _cmd_export, "to-sharegpt": _cmd_to_sharegpt,
               "check-recipe": _cmd_check_recipe}[args.command]
    try:
        return handler(args)
    except (ValueError, FileNotFoundError) as exc:  # ConfigError, SampleError, ShareGPTError are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from verl_metaagent.distill.journal import JournalError

        if isinstance(exc, JournalError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
