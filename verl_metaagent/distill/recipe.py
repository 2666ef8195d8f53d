"""Compose and validate a cold-start SFT recipe in-process (no torchrun, no GPU, no model download).

``compose_sft_recipe("sft_cold_start_qwen3_4b", overrides)`` builds the config exactly as
``recipes/run_sft_cold_start.sh`` does for training (verl's ``sft_trainer_engine`` config, then
``+recipes=<name>`` from the recipes folder, then the overrides); :func:`validate_sft_config`
runs verl's own config dataclasses over it plus the checks verl only makes after the model is
loaded (batch divisibility, token budget vs. ``max_length``, the dataset class), and optionally
reads the data files.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from verl_metaagent.utils.config_utils import ConfigError

__all__ = ["SFT_ENTRY", "compose_sft_recipe", "validate_sft_config", "sft_recipes", "cpu_sft_overrides"]

#: The module every SFT recipe runs.
SFT_ENTRY = "verl.trainer.sft_trainer"


def cpu_sft_overrides(model_path: str, out_dir: str, *, steps: int = 2, batch_size: int = 4) -> list[str]:
    """Overrides that run an SFT recipe on a CPU-only host (tiny model; with ``VERL_PLATFORM=cpu``
    and ``VERL_USE_EXTERNAL_MODULES=verl_metaagent`` in the environment, one torchrun process).

    fsdp2 on gloo, sdpa attention without remove-padding (flash-attention kernels need a GPU), no
    torch.compile, no dataloader workers, console logging, a checkpoint only at the last step.
    """
    return [
        f"model.path={model_path}",
        "trainer.device=cpu",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        "engine.strategy=fsdp2",
        "engine.use_torch_compile=False",
        "model.use_remove_padding=False",
        "+model.override_config.attn_implementation=sdpa",
        "model.enable_gradient_checkpointing=False",
        f"data.train_batch_size={batch_size}",
        f"data.micro_batch_size_per_gpu={max(1, batch_size // 2)}",
        "data.max_length=1024",
        "data.max_token_len_per_gpu=2048",
        "data.num_workers=0",
        f"trainer.total_training_steps={steps}",
        "trainer.logger=[console]",
        "trainer.save_freq=-1",
        f"trainer.default_local_dir={out_dir}",
    ]


def _recipes_dir(recipes_dir: Optional[str]) -> str:
    if recipes_dir:
        return os.path.abspath(recipes_dir)
    for cand in (os.path.join(os.getcwd(), "recipes"),
                 os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "recipes")):
        if os.path.isdir(cand):
            return cand
    raise FileNotFoundError("Cannot find the recipes folder; run from the repository root or pass --recipes-dir")


def sft_recipes(recipes_dir: Optional[str] = None) -> list[str]:
    """Names of the SFT recipes (``recipes/sft_*.yaml``)."""
    rdir = _recipes_dir(recipes_dir)
    return sorted(f[:-5] for f in os.listdir(rdir) if f.startswith("sft_") and f.endswith(".yaml"))


def compose_sft_recipe(recipe: str, overrides: Optional[list] = None, *, recipes_dir: Optional[str] = None) -> Any:
    """The composed ``DictConfig`` of an SFT recipe (name or path to its YAML) with ``overrides``.

    Raises:
        FileNotFoundError: no such recipe (the message lists the SFT recipes).
    """
    from hydra import compose, initialize_config_dir

    import verl.trainer.config as verl_cfg

    if recipe.endswith((".yaml", ".yml")) or os.sep in recipe:
        path = os.path.abspath(recipe)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--recipe {recipe!r}: no such file")
        rdir, name = os.path.dirname(path), os.path.splitext(os.path.basename(path))[0]
    else:
        rdir, name = _recipes_dir(recipes_dir), recipe
        if not os.path.isfile(os.path.join(rdir, name + ".yaml")):
            raise FileNotFoundError(
                f"--recipe {recipe!r}: no {name}.yaml in {rdir}. SFT recipes: {', '.join(sft_recipes(rdir)) or 'none'}")
    config_dir = os.path.dirname(os.path.abspath(verl_cfg.__file__))
    extra = [f"hydra.searchpath=[file://{os.path.dirname(rdir)}]", f"+{os.path.basename(rdir)}={name}"]
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="sft_trainer_engine", overrides=extra + list(overrides or []))


def _require(ok: bool, key: str, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(f"{key} {problem}. Fix: {fix}.")


def validate_sft_config(cfg: Any, *, check_data: bool = False, check_model: bool = False) -> list[str]:
    """Validate a composed SFT config; returns the names of the checks that ran.

    Args:
        check_data: also read ``data.train_files`` (they must exist, have the messages column,
            and their first rows must be valid chats).
        check_model: also build verl's model config (loads the model's HF config and tokenizer:
            needs the model locally or network access).

    Raises:
        ConfigError: naming the key and the fix; verl's dataclass errors as they come.
    """
    from omegaconf import OmegaConf

    from verl.utils.config import omega_conf_to_dataclass

    ran = []
    entry = OmegaConf.select(cfg, "recipe_info.entry")
    _require(entry in (None, SFT_ENTRY), "recipe_info.entry", f"is {entry!r}", f"SFT recipes run {SFT_ENTRY}")
    for group in ("engine", "optim", "checkpoint", "profiler"):
        omega_conf_to_dataclass(cfg[group])
        ran.append(f"verl {group} config")
    if check_model:
        omega_conf_to_dataclass(cfg.model)
        ran.append("verl model config (HF config + tokenizer)")
    data, trainer = cfg.data, cfg.trainer
    world = int(trainer.n_gpus_per_node) * int(trainer.nnodes)
    _require(world >= 1, "trainer.n_gpus_per_node", f"x trainer.nnodes = {world}", "use at least one process")
    _require(int(data.train_batch_size) % world == 0, "data.train_batch_size",
             f"({data.train_batch_size}) is not divisible by the {world} processes",
             f"set data.train_batch_size to a multiple of {world}")
    _require(int(data.micro_batch_size_per_gpu) >= 1, "data.micro_batch_size_per_gpu",
             f"is {data.micro_batch_size_per_gpu}", "set it to 1 or more")
    # verl's engine-based SFT trainer asserts no_padding in the FSDP engine (right padding fails at the first step)
    _require(data.pad_mode == "no_padding", "data.pad_mode",
             f"is {data.pad_mode!r}; verl's SFT engine only supports no_padding", "set data.pad_mode=no_padding")
    if data.use_dynamic_bsz:
        _require(int(data.max_token_len_per_gpu) >= int(data.max_length), "data.max_token_len_per_gpu",
                 f"({data.max_token_len_per_gpu}) is below data.max_length ({data.max_length}): "
                 "the longest sample would not fit a micro-batch",
                 "raise data.max_token_len_per_gpu to at least data.max_length")
    _require(str(cfg.trainer.device) in ("cuda", "npu", "cpu"), "trainer.device", f"is {cfg.trainer.device!r}",
             "use cuda (or cpu with the cpu platform)")
    ran.append("batch / length checks")
    custom = data.get("custom_cls") or {}
    if custom.get("path"):
        from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset
        from verl.utils.import_utils import load_extern_object

        try:
            cls = load_extern_object(custom.path, custom.name)
        except (ImportError, AttributeError, FileNotFoundError, RuntimeError) as exc:
            raise ConfigError(f"data.custom_cls ({custom.path}:{custom.name}) cannot be loaded: {exc}. Fix: use "
                              "path=pkg://verl_metaagent.distill.sft_dataset name=InferenceAlignedSFTDataset, "
                              "or null for verl's dataset.") from None
        _require(isinstance(cls, type) and issubclass(cls, MultiTurnSFTDataset), "data.custom_cls",
                 f"({custom.path}:{custom.name}) is not a MultiTurnSFTDataset",
                 "use pkg://verl_metaagent.distill.sft_dataset / InferenceAlignedSFTDataset")
        ran.append(f"dataset class {custom.name}")
    if check_data:
        import pandas as pd

        from verl_metaagent.distill.records import validate_messages

        files = list(data.train_files) if not isinstance(data.train_files, str) else [data.train_files]
        for path in files:
            _require(os.path.isfile(path), "data.train_files", f"entry {path} does not exist",
                     "run python -m verl_metaagent.distill first, or set METAAGENT_SFT_DIR / data.train_files")
            frame = pd.read_parquet(path)
            _require(data.messages_key in frame.columns, "data.messages_key",
                     f"({data.messages_key}) is not a column of {path}", "point it at the chat column")
            _require(len(frame) > 0, "data.train_files", f"entry {path} is empty", "distil or import samples first")
            for i, messages in enumerate(frame[data.messages_key].head(16)):
                validate_messages(messages, f"{path} row {i}")
        ran.append("data files")
    return ran
