"""A tiny, hub-free Qwen3 causal LM + tokenizer for tests, demos and CPU runs.

``build_tiny_model(path)`` writes a directory that ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` (and therefore verl) load like any Hugging Face checkpoint:

* tokenizer: byte-level BPE trained locally with the ``tokenizers`` library on a small built-in
  corpus (every string round-trips through bytes), wrapped as ``PreTrainedTokenizerFast`` with
  Qwen-style special tokens (``<|endoftext|>`` = pad, ``<|im_start|>``, ``<|im_end|>`` = eos) and a
  Qwen-like chat template (system / user / assistant, ``add_generation_prompt``);
* model: ``Qwen3ForCausalLM`` with random weights (seeded) from a small config (hidden 64,
  2 layers, 4 heads), a few MB on disk.

The directory is built once and reused: a ``tiny_model_version.json`` marker holds a hash of the
recipe (version + config); a mismatch rebuilds it. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

TINY_MODEL_VERSION = "1"
MARKER = "tiny_model_version.json"

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

_CORPUS = [
    "You are a helpful assistant. Solve the problem step by step and give the final answer.",
    "The answer is \\boxed{42}. What is 3 + 4? It is 7. Compute 12 * 13 = 156.",
    "def solve(x):\n    return x + 1\n\nprint(solve(int(input())))",
    "import sys\nfor line in sys.stdin:\n    a, b = map(int, line.split())\n    print(a + b)",
    "Designer: write a Python script that builds a multi-agent system. Executor: answer the call.",
    "agent = Agent('solver'); reply = ask(agent, task); final_answer(reply)",
    "Let x be a number such that 2x + 3 = 11. Then x = 4. Verify: 2*4 + 3 = 11.",
    "The quick brown fox jumps over the lazy dog. 0123456789 +-*/=()[]{}<>,.;:!?'\"",
    "user assistant system reflection debate ensemble vote plan verify test fix memory",
]

DEFAULT_CONFIG = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=4096,
    rope_theta=10000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)


def _recipe_hash(vocab_size: int, config: dict, seed: int) -> str:
    blob = json.dumps(
        {"v": TINY_MODEL_VERSION, "vocab": vocab_size, "config": config, "seed": seed,
         "corpus": _CORPUS, "template": CHAT_TEMPLATE},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_tokenizer(vocab_size: int = 512):
    """Train a byte-level BPE tokenizer on the built-in corpus; return a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def _is_current(path: str, expected: str) -> bool:
    try:
        with open(os.path.join(path, MARKER)) as f:
            return json.load(f).get("hash") == expected
    except (OSError, ValueError):
        return False


def build_tiny_model(path: str, *, seed: int = 0, vocab_size: int = 512, force: bool = False, **overrides) -> str:
    """Build (or reuse) the tiny Qwen3 model + tokenizer in ``path``; return ``path``.

    Args:
        path: output directory (created; reused when its marker matches this recipe).
        seed: torch seed for the random weights (same seed -> identical weights).
        vocab_size: BPE vocabulary target (the model's vocab is the tokenizer's length).
        force: rebuild even if the marker matches.
        **overrides: ``Qwen3Config`` fields replacing :data:`DEFAULT_CONFIG` entries.
    """
    config = {**DEFAULT_CONFIG, **overrides}
    expected = _recipe_hash(vocab_size, config, seed)
    path = os.path.abspath(path)
    if not force and _is_current(path, expected):
        return path

    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer(vocab_size)
    cfg = Qwen3Config(
        vocab_size=len(tokenizer),
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
        **config,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(cfg)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None

    # write to a sibling temp dir, then swap in: concurrent builders never see a half-written dir
    parent = os.path.dirname(path) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tiny_model_", dir=parent)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        with open(os.path.join(tmp, MARKER), "w") as f:
            json.dump({"hash": expected, "version": TINY_MODEL_VERSION, "config": config, "seed": seed}, f)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def main(argv: list[str] | None = None) -> None:
    """CLI: ``python -m verl_metaagent.tiny_model OUT_DIR`` builds the tiny model there."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    print(build_tiny_model(args.out_dir, seed=args.seed, force=args.force))


if __name__ == "__main__":
    main()
