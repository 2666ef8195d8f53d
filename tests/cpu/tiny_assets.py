"""Tiny assets for the CPU tests: a random Qwen3 model with a chat tokenizer (the project's builder),
a verl parquet dataset, and a trivial reward function file."""

from __future__ import annotations

from pathlib import Path

REWARD_FN_SOURCE = '''"""Trivial reward for the CPU smoke test: longer answers with a digit score higher."""


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """Return a float in [0, 1] that differs between any two different answers (so GRPO advantages
    are non-zero even when every answer hits the length cap): a stable hash of the text."""
    import hashlib

    return int.from_bytes(hashlib.sha256(solution_str.encode()).digest()[:4], "little") / 2**32
'''


def build_tiny_model(out_dir: str | Path) -> Path:
    """The project's tiny random Qwen3 causal LM + chat tokenizer in ``out_dir``
    (:mod:`verl_metaagent.demo.tiny_model`)."""
    from verl_metaagent.demo.tiny_model import build_tiny_model as build

    return Path(build(str(out_dir)))


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
