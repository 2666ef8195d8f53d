"""A tiny, hub-free Qwen3 causal LM + tokenizer for tests, demos and CPU runs.

:func:`build_tiny_model` writes a directory that ``AutoTokenizer.from_pretrained`` and
``AutoModelForCausalLM.from_pretrained`` (and so verl) load like any Hugging Face checkpoint.
Nothing is downloaded:

* tokenizer: byte-level BPE trained locally with the ``tokenizers`` library on a small built-in
  corpus of English / Python / math text (plus the caller's optional ``corpus`` strings), wrapped
  as ``PreTrainedTokenizerFast`` with Qwen-style special tokens (``<|endoftext|>`` = pad,
  ``<|im_start|>``, ``<|im_end|>`` = eos; no bos is prepended) and a Qwen-like chat template::

      <|im_start|>{role}\\n{content}<|im_end|>\\n        (one per message)
      <|im_start|>assistant\\n                          (add_generation_prompt=True)

  Byte-level BPE means every string round-trips (``decode(encode(s)) == s``).
* model: ``Qwen3ForCausalLM`` (hidden 64, 2 layers, 4 heads, 2 kv heads, head_dim 16,
  intermediate 128, tied embeddings, float32) with random weights (init std 0.2) from ``torch``
  seed ``seed``; ``generation_config.eos_token_id`` is the id of ``<|im_end|>``. About 1 MB.

The build is cached: a marker file (:data:`MARKER`) stores a hash of the build parameters; a call
with the same parameters on a complete directory returns at once, anything else rebuilds (written
to a temporary sibling directory and swapped in, so readers never see a half-written checkpoint).

CLI: ``python -m verl_metaagent.demo.tiny_model OUT_DIR``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

#: Bump when the recipe changes in a way the parameters do not capture (invalidates caches).
TINY_MODEL_VERSION = "3"
#: Marker file written last into a finished build directory.
MARKER = ".tiny_model_build.json"

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]

#: Target BPE vocabulary (special tokens + 256 byte symbols + merges); the built-in corpus is
#: large enough for the trainer to get close to it.
VOCAB_TARGET = 1536

#: Qwen-like chat template (no default system prompt, no tool/think handling).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_ENGLISH = [
    "You are a helpful assistant. Think step by step, then give the final answer.",
    "Solve the following problem. Put the final answer in \\boxed{}.",
    "The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat.",
    "A designer writes a program that calls several agents; each agent answers a sub-task.",
    "First, read the question carefully. Second, plan the solution. Third, verify the result.",
    "The executor model receives a task and returns an answer. The reviewer checks the answer.",
    "If the tests fail, fix the code and run the tests again until every test passes.",
    "Reflection: the previous answer was wrong because the sign was flipped. Corrected answer:",
    "Debate: two agents argue, a judge picks the most convincing answer, and a vote breaks ties.",
    "Ensemble several samples and return the majority answer. Memory stores earlier results.",
    "Question: how many apples are left if Tom has twelve apples and gives away five? Answer: seven.",
    "system user assistant tool function call return value input output error message result",
]

_PYTHON = [
    "def solve(x):\n    return x + 1\n\n\nprint(solve(int(input())))\n",
    "import sys\n\nfor line in sys.stdin:\n    a, b = map(int, line.split())\n    print(a + b)\n",
    "class Agent:\n    def __init__(self, name):\n        self.name = name\n\n    def ask(self, task):\n"
    "        return call_llm(self.name, task)\n",
    "def main():\n    n = int(input())\n    values = [int(v) for v in input().split()]\n"
    "    total = sum(values)\n    if total % 2 == 0:\n        print('even')\n    else:\n        print('odd')\n",
    "answers = [agent.ask(question) for agent in agents]\nbest = max(set(answers), key=answers.count)\n",
    "try:\n    result = run(code, timeout=5.0)\nexcept TimeoutError as exc:\n    result = None\n",
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "with open('data.json') as f:\n    data = json.load(f)\nfor key, value in data.items():\n    print(key, value)\n",
    "assert sorted([3, 1, 2]) == [1, 2, 3]\nassert len('hello') == 5\nreturn {'answer': answer}\n",
]

_MATH = [
    "Let x be a number such that 2x + 3 = 11. Then 2x = 8, so x = 4. Check: 2 * 4 + 3 = 11.",
    "The area of a circle with radius r is \\pi r^2; with r = 3 the area is 9\\pi.",
    "\\frac{1}{2} + \\frac{1}{3} = \\frac{5}{6}. The sum of the first n integers is n(n+1)/2.",
    "If f(x) = x^2 - 4x + 4 then f(x) = (x - 2)^2 and the minimum value is 0 at x = 2.",
    "The probability of two heads in two fair coin flips is 1/4 = 0.25.",
]


_WORDS = (
    "about above after again against all also always among answer another any area around ask back "
    "because become before begin being below best better between both bring build call came can case "
    "change check child city class close come common could count course create current data day "
    "different does done down during each early easy either end enough even every example fact family "
    "far feel few field final find first follow food form found free friend from full function game "
    "general give good great group hand happen hard have head hear help high hold home house however "
    "idea important include increase inside integer just keep kind know large last later learn least "
    "leave left less level life light line list little long look made make many matter maybe mean "
    "might minute model money month more most move much must name need never next night nothing "
    "number object often only open order other over part pass people perhaps person place plan play "
    "point possible power present probably problem program provide public question quickly rather "
    "reason remember report require right room rule same school second seem sentence set several "
    "should show side simple since small some something sort source space special start state still "
    "story string student study such sure system table take team tell than their then there these "
    "thing think those though through time today together too toward true turn under until update "
    "used using usually value very want water week well were what when where whether which while "
    "whole why will with within without word work world would write wrong year yes yet young"
).split()

_PY_NAMES = (
    "abs all any bool break continue dict elif else enumerate except False filter finally float "
    "for global hash import in int is isinstance lambda len list map max min next None nonlocal not "
    "object or pass print range raise repr return reversed round self set slice sorted str sum super "
    "True tuple type while with yield zip append extend insert items keys values split strip join "
    "format replace startswith endswith lower upper count index pop update get setdefault"
).split()


def _builtin_corpus() -> list[str]:
    """The built-in training text: fixed English / Python / math snippets plus generated arithmetic."""
    lines = _ENGLISH + _PYTHON + _MATH
    for a in range(1, 40):
        b = (a * 7) % 23 + 1
        lines.append(f"What is {a} + {b}? {a} + {b} = {a + b}. The answer is \\boxed{{{a + b}}}.")
        lines.append(f"Compute {a} * {b}: {a} * {b} = {a * b}. So the result is {a * b}.")
        lines.append(f"x_{a} = {a} - {b}  # = {a - b}\nif x_{a} < 0:\n    x_{a} = -x_{a}\n")
    for i, word in enumerate(_WORDS):
        other = _WORDS[(i * 7 + 3) % len(_WORDS)]
        lines.append(f"The {word} is {other}. A {word} and the {other}; {word.capitalize()} {other}s.")
    for i, name in enumerate(_PY_NAMES):
        other = _PY_NAMES[(i * 5 + 1) % len(_PY_NAMES)]
        lines.append(f"result = {name}(items)\nif {name} is not None:\n    {other} = {name}.{other}(value)\n")
    return lines


def _params_hash(corpus: list[str], hidden_size: int, num_layers: int, seed: int) -> str:
    """Hash of everything that determines the build (the cache key in :data:`MARKER`)."""
    blob = json.dumps(
        {
            "version": TINY_MODEL_VERSION,
            "builtin": _builtin_corpus(),
            "corpus": list(corpus),
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "seed": seed,
            "vocab_target": VOCAB_TARGET,
            "template": CHAT_TEMPLATE,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def build_tokenizer(corpus: list[str] | None = None):
    """Train the byte-level BPE tokenizer; return a ``PreTrainedTokenizerFast`` with the chat template.

    Args:
        corpus: extra training strings appended to the built-in corpus.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_TARGET,
        min_frequency=1,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_builtin_corpus() + list(corpus or []), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        model_max_length=4096,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _is_built(out_dir: str, digest: str) -> bool:
    """True if ``out_dir`` holds a finished build whose marker has hash ``digest``."""
    try:
        with open(os.path.join(out_dir, MARKER), encoding="utf-8") as f:
            return json.load(f).get("hash") == digest
    except (OSError, ValueError):
        return False


def build_tiny_model(out_dir, *, corpus: list[str] | None = None, hidden_size: int = 64,
                     num_layers: int = 2, seed: int = 0) -> str:
    """Build (or reuse) the tiny Qwen3 model + tokenizer in ``out_dir``; return its absolute path.

    Args:
        out_dir: target directory (``str`` or path-like); parents are created.
        corpus: extra tokenizer training strings (part of the cache key).
        hidden_size: model width; heads stay 4 (2 kv) with ``head_dim = hidden_size // 4`` and
            ``intermediate_size = 2 * hidden_size``.
        num_layers: number of decoder layers.
        seed: torch seed of the random init (same parameters -> bit-identical weights).
    """
    corpus = [str(s) for s in (corpus or [])]
    out_dir = os.path.abspath(os.fspath(out_dir))
    digest = _params_hash(corpus, hidden_size, num_layers, seed)
    if _is_built(out_dir, digest):
        return out_dir

    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer(corpus)
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    num_heads = 4
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=2,
        head_dim=hidden_size // num_heads,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        # std 0.2 instead of Qwen's 0.02: with tied embeddings a 0.02-init model just repeats the
        # last prompt token under greedy decoding; 0.2 gives varied greedy output (better tests)
        initializer_range=0.2,
        tie_word_embeddings=True,
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config).to(torch.float32).eval()
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = pad_id
    model.generation_config.bos_token_id = pad_id

    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tiny_model_build_", dir=parent)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as f:
            json.dump({"hash": digest, "version": TINY_MODEL_VERSION, "hidden_size": hidden_size,
                       "num_layers": num_layers, "seed": seed, "vocab_size": len(tokenizer)}, f, indent=1)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: build the tiny model into ``OUT_DIR`` and print the path."""
    import argparse

    parser = argparse.ArgumentParser(description="Build the tiny hub-free Qwen3 model.")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_model(args.out_dir, seed=args.seed))


if __name__ == "__main__":
    main()
