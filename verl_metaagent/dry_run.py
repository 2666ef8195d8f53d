"""Dry run: compose a recipe, validate it, print the resolved config and the rollout volume per step.

    python -m verl_metaagent.dry_run --recipe qwen3_4b_main
    python -m verl_metaagent.dry_run --recipe ablation_m8_n1 data.train_batch_size=16 --calls 4
    python -m verl_metaagent.dry_run metaagent.rollout.num_designs=2      # the bare trainer config

No Ray, no GPU, no model download: the config is composed in-process with Hydra's compose API
exactly as ``recipes/run_recipe.sh`` composes it for training (the entry point's own config, then
``+recipes=<name>`` from the recipes folder, then the overrides), and checked with the same
start-up validators (``verl_metaagent.main.check_config``: the ``metaagent`` group, run-config
checks and verl's ``validate_config``; verl's ``validate_config`` alone for recipes that run
``verl.trainer.main_ppo``). Exit status 2 and one line naming the key and the fix on a bad config.
Missing or unreadable data files (``data.train_files`` / ``data.val_files``) are listed as warnings
at the end: a dry run may come before the data is prepared.

The volume estimate sizes a run: per step ``problems x M designs x N executions x calls`` agent
calls, the designer / executor training rows, and upper bounds on tokens. ``--calls`` is the
expected number of agent calls per execution (default: the budget's ``max_agent_calls``, i.e. the
worst case).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any, Optional

METAAGENT_ENTRY = "verl_metaagent.main"
STOCK_ENTRY = "verl.trainer.main_ppo"


# --------------------------------------------------------------------------------------------- locating


def default_recipes_dir() -> Optional[str]:
    """``./recipes`` if it exists, else the ``recipes/`` folder next to this package (a source checkout)."""
    for cand in (os.path.join(os.getcwd(), "recipes"),
                 os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes")):
        if os.path.isdir(cand):
            return cand
    return None


def resolve_recipe(recipe: str, recipes_dir: Optional[str] = None) -> tuple[str, str]:
    """``(recipes_dir, name)`` for a recipe name (``qwen3_4b_main``) or a path to its YAML file.

    Raises:
        FileNotFoundError: naming the recipes that exist.
    """
    if recipe.endswith((".yaml", ".yml")) or os.sep in recipe:
        path = os.path.abspath(recipe)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--recipe {recipe!r}: no such file")
        return os.path.dirname(path), os.path.splitext(os.path.basename(path))[0]
    recipes_dir = recipes_dir or default_recipes_dir()
    if not recipes_dir or not os.path.isdir(recipes_dir):
        raise FileNotFoundError("Cannot find the recipes folder; run from the repository root or pass --recipes-dir.")
    if not os.path.isfile(os.path.join(recipes_dir, recipe + ".yaml")):
        raise FileNotFoundError(f"--recipe {recipe!r}: no {recipe}.yaml in {recipes_dir}. "
                                f"Available: {', '.join(list_recipes(recipes_dir))}")
    return os.path.abspath(recipes_dir), recipe


def list_recipes(recipes_dir: str) -> list[str]:
    """Runnable RL recipes in a folder (``paper_*`` files are shared bases; ``sft_*`` recipes run verl's
    SFT trainer and are composed by :mod:`verl_metaagent.distill.recipe` instead)."""
    return sorted(
        f[:-5] for f in os.listdir(recipes_dir) if f.endswith(".yaml") and not f.startswith(("paper_", "_", "sft_"))
    )


def recipe_entry(recipes_dir: str, name: str, _seen: Optional[set] = None) -> str:
    """The entry point a recipe runs with: ``recipe_info.entry`` of the recipe or of the recipes it
    builds on (its defaults list), else ``verl_metaagent.main``."""
    from omegaconf import OmegaConf

    _seen = _seen or set()
    if name in _seen:
        return METAAGENT_ENTRY
    _seen.add(name)
    node = OmegaConf.load(os.path.join(recipes_dir, name + ".yaml"))
    entry = OmegaConf.select(node, "recipe_info.entry")
    if entry:
        return str(entry)
    for item in node.get("defaults", []) or []:
        if isinstance(item, str) and item != "_self_" and os.path.isfile(os.path.join(recipes_dir, item + ".yaml")):
            found = recipe_entry(recipes_dir, item, _seen)
            if found != METAAGENT_ENTRY:
                return found
    return METAAGENT_ENTRY


# --------------------------------------------------------------------------------------------- composing


def _primary(entry: str) -> tuple[str, str, list[str]]:
    """``(config_dir, config_name, its own hydra.searchpath)`` of an entry point's config."""
    from omegaconf import OmegaConf

    if entry == STOCK_ENTRY:
        import verl.trainer.config as verl_cfg

        config_dir, name = os.path.dirname(os.path.abspath(verl_cfg.__file__)), "ppo_trainer"
    else:
        from verl_metaagent.config import CONFIG_DIR

        config_dir, name = CONFIG_DIR, "metaagent_trainer"
    own = OmegaConf.load(os.path.join(config_dir, name + ".yaml"))
    searchpath = [str(p) for p in (OmegaConf.select(own, "hydra.searchpath") or [])]
    return config_dir, name, searchpath


def compose_recipe(recipe: Optional[str] = None, overrides: Optional[list] = None, *,
                   recipes_dir: Optional[str] = None):
    """Compose the run config of ``recipe`` (name or YAML path; None = the bare trainer config).

    Returns:
        ``(config, entry)``: the composed ``DictConfig`` and the entry-point module name.
    """
    from hydra import compose, initialize_config_dir

    overrides = list(overrides or [])
    entry = METAAGENT_ENTRY
    extra: list[str] = []
    searchpath_add: list[str] = []
    if recipe:
        rdir, name = resolve_recipe(recipe, recipes_dir)
        entry = recipe_entry(rdir, name)
        # The recipe folder is config group `<folder name>` under its parent
        # (run_recipe.sh: --config-dir <repo> +recipes=<name>).
        searchpath_add.append("file://" + os.path.dirname(rdir))
        extra.append(f"+{os.path.basename(rdir)}={name}")
    config_dir, config_name, own_searchpath = _primary(entry)
    if searchpath_add:
        paths = ",".join(own_searchpath + searchpath_add)
        extra.insert(0, f"hydra.searchpath=[{paths}]")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose(config_name=config_name, overrides=extra + overrides)
    return cfg, entry


# --------------------------------------------------------------------------------------------- validating


def validate(cfg: Any, entry: str = METAAGENT_ENTRY, *, verl_checks: bool = True) -> list[str]:
    """Run the start-up validators that exist; returns the names of the checks that ran.

    Raises:
        ConfigError / ValueError / AssertionError / hydra errors from the validators.
    """
    ran: list[str] = []
    if entry == METAAGENT_ENTRY:
        from verl_metaagent.rollout.config import load_rollout_config

        load_rollout_config(cfg.get("metaagent", {}).get("rollout"))
        ran.append("verl_metaagent.rollout.config.load_rollout_config")
        try:
            from verl_metaagent.config.schema import validate_run_config
        except ImportError:  # pragma: no cover - older trees without the schema module
            validate_run_config = None
        if validate_run_config is not None:
            validate_run_config(cfg)
            ran.append("verl_metaagent.config.schema.validate_run_config")
        if verl_checks:
            try:
                from verl_metaagent.main import check_config
            except ImportError:  # pragma: no cover
                check_config = None
            if check_config is not None:
                check_config(cfg)
                ran.append("verl_metaagent.main.check_config (incl. verl validate_config)")
    elif verl_checks:
        from verl.trainer.ppo.utils import need_critic, need_reference_policy
        from verl.utils.config import validate_config

        validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
        ran.append("verl.utils.config.validate_config")
    return ran


# --------------------------------------------------------------------------------------------- volume


@dataclass
class RolloutVolume:
    """Per-step rollout volume of a config (all counts per training step).

    Attributes:
        problems: ``data.train_batch_size``.
        designs: problems x M (one designer row each).
        executions: designs x N.
        calls_per_execution: assumed agent calls per execution.
        agent_calls: executions x calls (every call is an LLM request).
        designer_rows / executor_rows: training rows per role (executor rows capped by
            ``max_executor_rows_per_execution``).
        max_generated_tokens: upper bound on tokens the policy generates in one step.
        max_total_tokens: upper bound on prompt + generated tokens processed in one step.
        kind: ``tree`` (MetaAgent-X) or ``flat`` (plain GRPO: ``executions`` = answers, one call each).
    """

    problems: int
    designs: int
    executions: int
    calls_per_execution: int
    agent_calls: int
    designer_rows: int
    executor_rows: int
    max_generated_tokens: int
    max_total_tokens: int
    kind: str = "tree"

    def lines(self) -> list[str]:
        if self.kind == "flat":
            return [
                f"problems per step            {self.problems}",
                f"answers (LLM requests)       {self.agent_calls}  (rollout.n per problem)",
                f"training rows                {self.executor_rows}",
                f"generated tokens             <= {self.max_generated_tokens:,}",
                f"prompt + generated tokens    <= {self.max_total_tokens:,}",
            ]
        return [
            f"problems per step            {self.problems}",
            f"designs (designer rows)      {self.designs}",
            f"executions                   {self.executions}",
            f"agent calls / execution      {self.calls_per_execution}",
            f"agent calls (LLM requests)   {self.agent_calls}  (+ {self.designs} designer requests)",
            f"training rows                designer {self.designer_rows}, executor <= {self.executor_rows}",
            f"generated tokens             <= {self.max_generated_tokens:,}",
            f"prompt + generated tokens    <= {self.max_total_tokens:,}",
        ]


def _sel(cfg: Any, key: str, default: Any = None) -> Any:
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key, default=default)
    return default if value is None else value


def estimate_volume(cfg: Any, entry: str = METAAGENT_ENTRY, calls: Optional[int] = None) -> RolloutVolume:
    """:class:`RolloutVolume` of a composed config (``calls`` = expected agent calls per execution)."""
    problems = int(_sel(cfg, "data.train_batch_size"))
    prompt_len = int(_sel(cfg, "data.max_prompt_length"))
    resp_len = int(_sel(cfg, "data.max_response_length"))
    if entry != METAAGENT_ENTRY:  # plain GRPO: n answers per problem, one call each
        n = int(_sel(cfg, "actor_rollout_ref.rollout.n", 1))
        rows = problems * n
        return RolloutVolume(problems, 0, rows, 1, rows, 0, rows, rows * resp_len, rows * (prompt_len + resp_len),
                             kind="flat")
    from verl_metaagent.rollout.config import load_rollout_config

    tree = load_rollout_config(_sel(cfg, "metaagent.rollout"))
    calls = int(calls or tree.budget.max_agent_calls)
    if calls < 1:
        raise ValueError(f"--calls must be >= 1, got {calls}")
    designs = problems * tree.num_designs
    executions = designs * tree.num_executions
    cap = tree.max_executor_rows_per_execution or calls
    designer_new = tree.designer_sampling.max_tokens or resp_len
    executor_new = tree.executor_sampling.max_tokens or resp_len
    token_cap = tree.budget.max_total_tokens if tree.budget.max_total_tokens is not None else float("inf")
    per_exec_total = int(min(token_cap, calls * (prompt_len + executor_new)))
    per_exec_new = int(min(token_cap, calls * executor_new))
    return RolloutVolume(
        problems=problems,
        designs=designs,
        executions=executions,
        calls_per_execution=calls,
        agent_calls=executions * calls,
        designer_rows=designs,
        executor_rows=executions * min(calls, cap),
        max_generated_tokens=designs * designer_new + executions * per_exec_new,
        max_total_tokens=designs * (prompt_len + designer_new) + executions * per_exec_total,
    )


#: Agent calls per execution assumed for the optimizer-steps estimate (the release's designs call ~3 agents).
TYPICAL_CALLS = 3


def optimizer_steps_line(cfg: Any, calls: Optional[int] = None) -> str:
    """``optimizer steps per training step: designer D, executor E`` for a MetaAgent-X config, with its assumption.

    A role's phase trains its rows in ``ceil(rows / metaagent.actor_update.rows_per_mini_batch)`` mini-batches
    per PPO epoch (``verl_metaagent.trainer.step_plan``); designer rows = problems x M, executor rows =
    problems x M x N x min(calls, max_executor_rows_per_execution).
    """
    from verl_metaagent.trainer.step_plan import load_update_config
    from verl_metaagent.rollout.config import load_rollout_config
    from verl_metaagent.trainer.step_plan import mini_batches_for

    tree = load_rollout_config(_sel(cfg, "metaagent.rollout"))
    update = load_update_config(_sel(cfg, "metaagent.actor_update"))
    calls = int(calls or TYPICAL_CALLS)
    cap = tree.max_executor_rows_per_execution or calls
    epochs = int(_sel(cfg, "actor_rollout_ref.actor.ppo_epochs", 1))
    designs = int(_sel(cfg, "data.train_batch_size")) * tree.num_designs
    executor_rows = designs * tree.num_executions * min(calls, cap)
    designer = mini_batches_for(designs, update) * epochs
    executor = mini_batches_for(executor_rows, update) * epochs
    return (
        f"optimizer steps per training step: designer {designer}, executor {executor}  "
        f"(assuming {calls} agent calls = {min(calls, cap)} rows per execution; "
        f"{designs} designer / {executor_rows} executor rows, "
        f"{update.rows_per_mini_batch} rows per optimizer step, {epochs} epoch(s); --calls to change)"
    )


# --------------------------------------------------------------------------------------------- CLI


def _summary(cfg: Any, entry: str) -> list[str]:
    out = [f"entry point                  python -m {entry}"]
    info = _sel(cfg, "recipe_info")
    if info is not None:
        out.append(f"recipe                       {_sel(cfg, 'recipe_info.name', '?')}: "
                   f"{_sel(cfg, 'recipe_info.reproduces', '')}")
    out.append(f"model                        {_sel(cfg, 'actor_rollout_ref.model.path', '???')}")
    out.append(
        f"hardware                     {_sel(cfg, 'trainer.nnodes')} node(s) "
        f"x {_sel(cfg, 'trainer.n_gpus_per_node')} GPUs, "
        f"rollout {_sel(cfg, 'actor_rollout_ref.rollout.name')} (TP "
        f"{_sel(cfg, 'actor_rollout_ref.rollout.tensor_model_parallel_size')})"
    )
    if entry == METAAGENT_ENTRY:
        out.append(
            f"tree / phases                M={_sel(cfg, 'metaagent.rollout.num_designs')} "
            f"N={_sel(cfg, 'metaagent.rollout.num_executions')}, "
            f"phase {_sel(cfg, 'metaagent.phase.mode')} (K={_sel(cfg, 'metaagent.phase.phase_length')}, "
            f"first {_sel(cfg, 'metaagent.phase.first_role')}), "
            f"advantage {_sel(cfg, 'metaagent.advantage.mode')}"
        )
    out.append(f"train / val files            {_sel(cfg, 'data.train_files')} / {_sel(cfg, 'data.val_files')}")
    return out


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verl_metaagent.dry_run", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default=None, help="recipe name (recipes/<name>.yaml) or path to a recipe YAML")
    parser.add_argument("--recipes-dir", default=None, help="folder of recipes (default ./recipes or the checkout's)")
    parser.add_argument("--calls", type=int, default=None,
                        help="expected agent calls per execution (default: budget max)")
    parser.add_argument("--no-config", action="store_true", help="do not print the resolved config")
    parser.add_argument("--skip-verl-checks", action="store_true", help="only our checks (skip verl's validate_config)")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data.train_batch_size=16")
    args = parser.parse_args(argv)

    if args.list:
        rdir = args.recipes_dir or default_recipes_dir()
        print("\n".join(list_recipes(rdir)) if rdir else "no recipes folder found")
        return 0
    from omegaconf import OmegaConf

    from verl_metaagent.utils.config_utils import ConfigError

    try:
        cfg, entry = compose_recipe(args.recipe, args.overrides, recipes_dir=args.recipes_dir)
        checks = validate(cfg, entry, verl_checks=not args.skip_verl_checks)
        volume = estimate_volume(cfg, entry, args.calls)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"dry_run: configuration error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # hydra composition / verl validation errors: one readable line
        print(f"dry_run: configuration error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if not args.no_config:
        print(OmegaConf.to_yaml(cfg, resolve=True))
    print("== summary")
    print("\n".join(_summary(cfg, entry)))
    print("== checks passed")
    print("\n".join(f"  {c}" for c in checks))
    print("== rollout volume per step")
    print("\n".join(volume.lines()))
    if entry == METAAGENT_ENTRY:
        print(optimizer_steps_line(cfg, args.calls))
    warnings = data_warnings(cfg)
    if warnings:
        print("== warnings (training would stop here)")
        print("\n".join(f"  {w}" for w in warnings))
    return 0


def data_warnings(cfg: Any) -> list[str]:
    """Data files that are missing or unusable (:func:`verl_metaagent.config.preflight.data_file_problems`):
    a dry run may come before the data is prepared, so these warn instead of failing."""
    from verl_metaagent.config.preflight import data_file_problems

    return data_file_problems(cfg)


if __name__ == "__main__":
    sys.exit(main())
