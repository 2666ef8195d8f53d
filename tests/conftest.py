"""Shared pytest fixtures (test folders may add their own conftest.py next to their tests)."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", ".fixtures")


@pytest.fixture(scope="session")
def tiny_model_dir() -> str:
    """Directory of the tiny random Qwen3 model + tokenizer (built once, cached in tests/.fixtures/tiny_qwen3)."""
    from verl_metaagent.demo.tiny_model import build_tiny_model

    return build_tiny_model(os.path.join(FIXTURES, "tiny_qwen3"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    """The tiny model's tokenizer (``PreTrainedTokenizerFast`` with the Qwen-like chat template)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)
