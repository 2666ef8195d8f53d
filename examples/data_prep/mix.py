"""Mix math and code training parquet files with a code ratio and a seed (the RL training set).

    python examples/data_prep/mix.py --math data/polaris_train.parquet \
        --code data/apps_train.parquet data/cc_train.parquet --code-ratio 0.7 --seed 0 \
        --output data/train_mixed.parquet

The public MetaAgent-X release trains on 70% code problems (``--code-ratio 0.7``, the default).
Without ``--total`` the largest mix with exactly that ratio is drawn (all of the scarcer side);
rows are sampled without replacement with ``random.Random(seed)`` and shuffled, and
``extra_info.index`` is renumbered (``extra_info.source_id`` keeps the source's id).

``--val-output FILE --val-size N`` holds N rows of the mix out (same ratio, seeded) as the
validation file the recipes read (``val_heldout.parquet``): validation during training uses
held-out TRAINING-distribution problems, never a test benchmark, so no checkpoint is ever
selected on a test set.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dp_common import DataPrepError, plain, write_parquet  # noqa: E402


def _read(paths: list[str]) -> list[dict]:
    import pandas as pd

    rows = []
    for path in paths:
        rows += [plain(r) for r in pd.read_parquet(path).to_dict(orient="records")]
    return rows


def mix_rows(math_rows: list[dict], code_rows: list[dict], *, code_ratio: float, total: int = 0,
             seed: int = 0) -> list[dict]:
    """Draw ``round(total * code_ratio)`` code rows and the rest math rows, shuffled (seeded)."""
    if not 0.0 <= code_ratio <= 1.0:
        raise DataPrepError(f"--code-ratio must be in [0, 1], got {code_ratio}")
    if total <= 0:
        limits = []
        if code_ratio > 0:
            limits.append(int(len(code_rows) / code_ratio))
        if code_ratio < 1:
            limits.append(int(len(math_rows) / (1 - code_ratio)))
        total = min(limits)
    n_code = round(total * code_ratio)
    n_math = total - n_code
    if n_code > len(code_rows) or n_math > len(math_rows):
        raise DataPrepError(
            f"--total {total} at --code-ratio {code_ratio} needs {n_code} code and {n_math} math rows; "
            f"only {len(code_rows)} code and {len(math_rows)} math rows are available. Lower --total or omit it."
        )
    rng = random.Random(seed)
    out = rng.sample(code_rows, n_code) + rng.sample(math_rows, n_math)
    rng.shuffle(out)
    for i, row in enumerate(out):
        row["extra_info"] = dict(row["extra_info"], index=i)
    return out


def split_holdout(rows: list[dict], val_size: int, *, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """``(train, val)``: ``val_size`` rows drawn with ``random.Random(seed + 1)``, disjoint from train;
    both renumbered and ``extra_info.split`` set to ``train`` / ``val``."""
    if val_size < 0 or val_size >= len(rows):
        raise DataPrepError(f"--val-size must be in [0, {len(rows) - 1}] for {len(rows)} rows, got {val_size}")
    picked = set(random.Random(seed + 1).sample(range(len(rows)), val_size))
    train = [r for i, r in enumerate(rows) if i not in picked]
    val = [r for i, r in enumerate(rows) if i in picked]
    for split, part in (("train", train), ("val", val)):
        for i, row in enumerate(part):
            row["extra_info"] = dict(row["extra_info"], index=i, split=split)
    return train, val


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--math", nargs="+", required=True, help="our math parquet file(s)")
    parser.add_argument("--code", nargs="+", required=True, help="our code parquet file(s)")
    parser.add_argument("--code-ratio", type=float, default=0.7)
    parser.add_argument("--total", type=int, default=0, help="rows in the mix (0 = as many as the ratio allows)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    parser.add_argument("--val-output", default=None, help="write a held-out validation file here")
    parser.add_argument("--val-size", type=int, default=256, help="rows held out for --val-output")
    args = parser.parse_args(argv)
    math_rows, code_rows = _read(args.math), _read(args.code)
    out = mix_rows(math_rows, code_rows, code_ratio=args.code_ratio, total=args.total, seed=args.seed)
    if args.val_output:
        out, val = split_holdout(out, args.val_size, seed=args.seed)
        write_parquet(val, args.val_output)
        print(f"mix: {len(val)} held-out validation rows -> {args.val_output}", file=sys.stderr)
    write_parquet(out, args.output)
    n_code = sum(r["ability"] == "code" for r in out)
    print(f"mix: {len(out)} rows ({n_code} code, {len(out) - n_code} math; seed {args.seed}) -> {args.output}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
