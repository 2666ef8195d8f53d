"""Tiny assets for the CPU tests: a random Qwen3 model with a chat tokenizer (the project's builder)."""

from __future__ import annotations

from pathlib import Path


def build_tiny_model(out_dir: str | Path) -> Path:
    """The project's tiny random Qwen3 causal LM + chat tokenizer in ``out_dir``
    (:mod:`verl_metaagent.demo.tiny_model`)."""
    from verl_metaagent.demo.tiny_model import build_tiny_model as build

    return Path(build(str(out_dir)))
