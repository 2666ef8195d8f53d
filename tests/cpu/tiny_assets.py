"""Tiny assets for the CPU tests: a random Qwen3 model with a chat tokenizer, a verl parquet
dataset, and a trivial reward function file.

``build_tiny_model`` prefers the project's shared builder (``verl_metaagent.testing.tiny_model``
or ``verl_metaagent.tiny_model``, owned by another engineer) when it exists; otherwise it builds
a minimal model here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

REWARD_FN_SOURCE = '''"""Trivial reward for the CPU smoke test: longer answers with a digit score higher."""


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """Return a float in [0, 1] that differs between any two different answers (so GRPO advantages
    are non-zero even when every answer hits the length cap): a stable hash of the text."""
    import hashlib

    return int.from_bytes(hashlib.sha256(solution_str.encode()).digest()[:4], "little") / 2**32
'''


def _build_tokenizer(out_dir: Path):
    """Train a small byte-level BPE tokenizer (a few hundred tokens) with a Qwen-style chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [
        "What is 1 + 2? The answer is 3.",
        "Compute 7 times 6. It is 42.",
        "system user assistant: think step by step and answer with a number.",
        "0123456789 + - * / = ( ) the a an is of to and answer question",
    ] * 4
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out_dir))
    return fast


def _module_exists(name: str) -> bool:
    """True if ``name`` can be imported (a missing parent package counts as missing)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def build_tiny_model(out_dir: str | Path) -> Path:
    """Write a tiny random Qwen3 causal LM + tokenizer to ``out_dir``; return the path."""
    out = Path(out_dir)
    for shared in ("verl_metaagent.testing.tiny_model", "verl_metaagent.tiny_model"):
        if _module_exists(shared):
            shared_builder = getattr(importlib.import_module(shared), "build_tiny_model", None)
            if shared_builder is not None:
                result = shared_builder(str(out))
                return Path(result) if result is not None else out

    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    tok = _build_tokenizer(out)
    config = Qwen3Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model.save_pretrained(str(out))
    return out


def write_dataset(path: str | Path, rows: int = 8) -> Path:
    """Write a verl RL parquet (data_source, prompt, ability, reward_model, extra_info)."""
    import pandas as pd

    records = []
    for i in range(rows):
        a, b = i + 1, 2 * i + 3
        records.append(
            {
                "data_source": "cpu_smoke",
                "prompt": [{"role": "user", "content": f"What is {a} + {b}?"}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": str(a + b)},
                "extra_info": {"index": i},
            }
        )
    out = Path(path)
    pd.DataFrame(records).to_parquet(out)
    return out


def write_reward_fn(path: str | Path) -> Path:
    """Write the trivial reward function file used by ``reward.custom_reward_function``."""
    out = Path(path)
    out.write_text(REWARD_FN_SOURCE)
    return out
