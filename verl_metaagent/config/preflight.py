"""Checks of a composed training config that must pass before Ray starts (pure: no Ray, no GPU).

``preflight(config)`` raises :class:`~verl_metaagent.utils.config_utils.ConfigError` whose message
names the key and the fix, for the settings a new user gets wrong first:

* **numbers** -- the integer / float settings parse (``data.train_batch_size=abc``);
* **data** -- ``data.train_files`` / ``data.val_files`` exist, are readable parquet and have the
  columns the rollout reads (``data.prompt_key``, ``data_source``, ``reward_model``);
* **graders** -- every ``data_source`` in them has a ``reward_fns`` grader (unless a custom reward
  function grades), so a missing grader is found before the first LLM call;
* **model** -- ``actor_rollout_ref.model.path`` is an existing folder or looks like a hub id
  (``Qwen/Qwen3-4B``);
* **engine** -- the rollout engine named by ``actor_rollout_ref.rollout.name`` is installed;
* **lengths** -- the designer prompt (built exactly as the rollout builds it, for the longest
  question among the first :data:`LENGTH_SAMPLE_ROWS` training rows) fits ``data.max_prompt_length``:
  counted with the model's tokenizer when it loads from a local folder, else estimated at
  :data:`CHARS_PER_TOKEN` characters per token (the message says which);
* **resume** -- the checkpoint the run would resume (``trainer.resume_mode``) was trained with the same
  ``metaagent.parameters`` (shared / separate) as this run.

Remote files (``hdfs://``, ``s3://`` ...) are not opened. Everything else about the config is
checked later by verl and by ``verl_metaagent.main.check_config``.
"""

from __future__ import annotations

import importlib.util
import os
import re
from typing import Any, Optional

from verl_metaagent.trainer.separate_params import check_resume_config
from verl_metaagent.utils.config_utils import ConfigError, require

__all__ = ["CHARS_PER_TOKEN", "INTEGER_KEYS", "FLOAT_KEYS", "LENGTH_SAMPLE_ROWS", "data_file_problems", "preflight"]

#: Settings that must be whole numbers (``null`` allowed where verl allows it).
INTEGER_KEYS = (
    "data.train_batch_size", "data.val_batch_size", "data.max_prompt_length", "data.max_response_length",
    "actor_rollout_ref.rollout.n", "actor_rollout_ref.rollout.prompt_length",
    "actor_rollout_ref.rollout.response_length", "actor_rollout_ref.rollout.tensor_model_parallel_size",
    "actor_rollout_ref.actor.ppo_mini_batch_size", "actor_rollout_ref.actor.ppo_epochs",
    "trainer.total_epochs", "trainer.total_training_steps", "trainer.n_gpus_per_node",
    "trainer.nnodes", "trainer.save_freq", "trainer.test_freq",
)
#: Settings that must be numbers.
FLOAT_KEYS = (
    "actor_rollout_ref.actor.optim.lr", "actor_rollout_ref.actor.clip_ratio", "actor_rollout_ref.rollout.temperature",
    "actor_rollout_ref.rollout.top_p", "actor_rollout_ref.rollout.gpu_memory_utilization",
)
#: Columns of a training / validation parquet the rollout reads (besides ``data.prompt_key``).
REQUIRED_COLUMNS = ("data_source", "reward_model")
#: Training rows whose designer prompts are measured.
LENGTH_SAMPLE_ROWS = 256
#: Characters per token of the length estimate used when the tokenizer cannot be loaded.
CHARS_PER_TOKEN = 3.5

_MISSING = object()
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_REMOTE = re.compile(r"^[a-zA-Z][\w+.-]*://")


def _get(config: Any, key: str, default: Any = _MISSING) -> Any:
    """``config`` value at dotted ``key`` (OmegaConf or nested dicts); ``default`` when absent."""
    node = config
    for part in key.split("."):
        try:
            node = node[part] if part in node else _MISSING
        except Exception:  # not a mapping, or an interpolation that does not resolve (verl checks those)
            return default
        if node is _MISSING:
            return default
    return node


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        return [str(v) for v in value]
    except TypeError:
        return [str(value)]


# ------------------------------------------------------------------------------------------ numbers
def check_numbers(config: Any) -> None:
    """Every key of :data:`INTEGER_KEYS` / :data:`FLOAT_KEYS` that is set parses as its type."""
    for keys, kind in ((INTEGER_KEYS, int), (FLOAT_KEYS, float)):
        for key in keys:
            value = _get(config, key, None)
            if value is not None:
                _parse_number(key, value, kind)


def _parse_number(key: str, value: Any, kind: type) -> None:
    word = "a whole number" if kind is int else "a number"
    example = {int: "8", float: "1e-6"}[kind]
    ok = not isinstance(value, bool)
    if ok and isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            ok = False
        else:
            ok = kind is float or number.is_integer()
    elif ok:
        ok = isinstance(value, (int, float)) and (kind is float or float(value).is_integer())
    require(ok, key, f"must be {word}, got {value!r}", f"set {key}={example} (or another {word})")


# ------------------------------------------------------------------------------------------- data
def data_file_problems(config: Any) -> list[str]:
    """One message per unusable data file (or unset ``data.train_files``); empty when all are fine."""
    prompt_key = str(_get(config, "data.prompt_key", "prompt") or "prompt")
    problems = []
    if not _as_list(_get(config, "data.train_files", None)):
        problems.append("data.train_files is not set. Fix: set data.train_files=/path/to/train.parquet")
    for key in ("data.train_files", "data.val_files"):
        for path in _as_list(_get(config, key, None)):
            try:
                _check_parquet(key, path, (prompt_key,) + REQUIRED_COLUMNS)
            except ConfigError as exc:
                problems.append(str(exc))
    return problems


def check_data_files(config: Any) -> None:
    """``data.train_files`` (required) and ``data.val_files`` exist and are parquet with our columns."""
    problems = data_file_problems(config)
    if problems:
        raise ConfigError(problems[0])


def _check_parquet(key: str, path: str, columns: tuple) -> None:
    if _REMOTE.match(path):
        return  # remote storage: verl copies it at start-up
    local = os.path.expanduser(path)
    hint = "examples/data_prep/prepare_paper_data.sh writes them (see README 'Training')"
    require(os.path.exists(local), key, f"names {path!r}, which does not exist",
            f"point {key} at an existing parquet file; {hint}")
    require(os.path.isfile(local), key, f"names {path!r}, which is not a file", f"point {key} at a parquet file")
    require(os.access(local, os.R_OK), key, f"names {path!r}, which is not readable",
            f"make {path} readable by this user")
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(local).names)
    except Exception as exc:  # pyarrow raises several types for non-parquet input
        raise ConfigError(f"{key} names {path!r}, which is not a readable parquet file ({type(exc).__name__}: {exc}). "
                          f"Fix: convert it to verl's parquet format; {hint}") from None
    missing = [c for c in columns if c not in names]
    require(not missing, key,
            f"names {path!r}, which has no column(s) {', '.join(missing)} (it has {', '.join(sorted(names))})",
            "write verl's rows (data_source, prompt, reward_model, extra_info), "
            "or set data.prompt_key to the prompt column")


def uses_reward_fns(config: Any) -> bool:
    """True when rewards come from ``reward_fns`` (no custom reward function, or ``pkg://reward_fns``)."""
    path = str(_get(config, "reward.custom_reward_function.path", None) or "")
    return not path or path.startswith("pkg://reward_fns")


def check_graders_for_data(config: Any) -> None:
    """Every ``data_source`` of the local train / val parquet files has a ``reward_fns`` grader (or verl's
    fallback), checked before any LLM call; skipped when a custom reward function grades instead."""
    if not uses_reward_fns(config):
        return
    import pyarrow.parquet as pq

    import reward_fns

    for key in ("data.train_files", "data.val_files"):
        for path in _as_list(_get(config, key, None)):
            local = os.path.expanduser(str(path))
            if _REMOTE.match(str(path)) or not os.path.isfile(local):
                continue
            sources = set(pq.read_table(local, columns=["data_source"]).column("data_source").to_pylist())
            missing = reward_fns.missing_graders(str(s) for s in sources)
            require(not missing, key, reward_fns.missing_graders_message(missing, str(path)),
                    "add the grader (above) or fix the rows' data_source")


# ------------------------------------------------------------------------------------------ model
def looks_like_hub_id(path: str) -> bool:
    """``owner/name`` with no leading ``/``, ``.`` or ``~`` (a Hugging Face hub id)."""
    return bool(_HUB_ID.match(path)) and not path.startswith((".", "~"))


def check_model_path(config: Any) -> None:
    """``actor_rollout_ref.model.path`` is an existing folder or a hub id."""
    key = "actor_rollout_ref.model.path"
    path = _get(config, key, None)
    require(path not in (None, "", "???"), key, "is not set",
            f"set {key}=Qwen/Qwen3-4B (a hub id) or a local model folder")
    path = str(path)
    if _REMOTE.match(path) or os.path.isdir(os.path.expanduser(path)):
        return
    if os.path.exists(os.path.expanduser(path)):
        raise ConfigError(
            f"{key} names {path!r}, which is a file, not a model folder. Fix: set {key} to the folder with config.json")
    require(looks_like_hub_id(path), key,
            f"names {path!r}, which is neither an existing folder nor a hub id (owner/name)",
            f"set {key} to a local model folder or a hub id such as Qwen/Qwen3-4B")


# ------------------------------------------------------------------------------------------ engine
def check_rollout_engine(config: Any) -> None:
    """The GPU rollout engine named by ``actor_rollout_ref.rollout.name`` (vllm / sglang) is installed."""
    name = str(_get(config, "actor_rollout_ref.rollout.name", "") or "")
    package = {"vllm": "vllm", "sglang": "sglang"}.get(name)
    if package is None or importlib.util.find_spec(package) is not None:
        return
    from verl_metaagent.cpu.replica import install_hint

    raise ConfigError(f"actor_rollout_ref.rollout.name={name} needs the {package} package, which is not installed. "
                      f"Fix: {install_hint(name)}; "
                      "or, without a GPU, run with VERL_PLATFORM=cpu and actor_rollout_ref.rollout.name=cpu")


# ------------------------------------------------------------------------------------------ lengths
def _sample_problems(path: str, prompt_key: str, limit: int) -> list:
    import pyarrow.parquet as pq

    from verl_metaagent.rollout.problems import problem_from_fields

    parquet = pq.ParquetFile(os.path.expanduser(path))
    wanted = [c for c in (prompt_key, "data_source", "reward_model", "extra_info", "ability")
              if c in parquet.schema_arrow.names]
    problems = []
    for batch in parquet.iter_batches(batch_size=limit, columns=wanted):
        for i, row in enumerate(batch.to_pylist()):
            fields = dict(row, raw_prompt=row.get(prompt_key))
            try:
                problems.append(problem_from_fields(fields, uid=f"p{i}", problem_index=i))
            except ValueError:
                continue  # a row without a question is the dataset checker's business
        break
    return problems


def _load_tokenizer(model_path: str) -> Optional[Any]:
    local = os.path.expanduser(model_path)
    if not os.path.isdir(local):
        return None
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(local)
    except Exception:  # no tokenizer files, a custom class...: fall back to the estimate
        return None


def designer_prompt_tokens(messages: list, tokenizer: Optional[Any],
                           chat_template_kwargs: Optional[dict] = None) -> tuple[int, bool]:
    """``(tokens, exact)`` of a designer chat: counted with ``tokenizer``, else chars / :data:`CHARS_PER_TOKEN`."""
    if tokenizer is not None:
        try:
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                **(chat_template_kwargs or {}))
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
            return len(ids), True
        except Exception:
            pass
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return int(chars / CHARS_PER_TOKEN) + 1, False


def check_prompt_length(config: Any) -> None:
    """The designer prompt of the longest sampled training question fits ``data.max_prompt_length``."""
    limit = _get(config, "data.max_prompt_length", None)
    train = [p for p in _as_list(_get(config, "data.train_files", None)) if not _REMOTE.match(p)]
    if limit is None or not train:
        return
    from verl_metaagent.rollout.tree_runner import designer_messages
    from verl_metaagent.utils.config_utils import to_plain

    variant = str(_get(config, "metaagent.rollout.prompt_variant", "full") or "full")
    problems = _sample_problems(train[0], str(_get(config, "data.prompt_key", "prompt") or "prompt"),
                                LENGTH_SAMPLE_ROWS)
    if not problems:
        return
    longest = max(problems, key=lambda p: len(p.question))
    tokenizer = _load_tokenizer(str(_get(config, "actor_rollout_ref.model.path", "") or ""))
    kwargs = to_plain(_get(config, "data.apply_chat_template_kwargs", None)) or {}
    tokens, exact = designer_prompt_tokens(designer_messages(longest, variant), tokenizer, kwargs)
    how = ("tokens (the model's tokenizer)" if exact
           else f"tokens (estimated at {CHARS_PER_TOKEN} characters per token: the tokenizer did not load)")
    short = " or metaagent.rollout.prompt_variant=short (after cold-start SFT)" if variant != "short" else ""
    require(
        tokens <= int(limit),
        "data.max_prompt_length",
        f"is {int(limit)}, too short: the designer prompt (metaagent.rollout.prompt_variant={variant}) "
        f"of the longest of the first {len(problems)} questions in {train[0]} is {tokens} {how}",
        f"set data.max_prompt_length>={tokens}{short}",
    )


def preflight(config: Any) -> None:
    """Run every check of the module docstring, cheapest first; raise the first :class:`ConfigError`.

    Args:
        config: the composed training config (OmegaConf ``DictConfig`` or nested dicts), before Ray.
    """
    check_numbers(config)
    check_data_files(config)
    check_graders_for_data(config)
    check_model_path(config)
    check_rollout_engine(config)
    check_prompt_length(config)
    check_resume_config(config)
