"""Fixtures of the evaluation tests (helpers live in eval_fixtures.py)."""

import pytest

from eval_fixtures import BENCHES, row


@pytest.fixture
def bench_files(tmp_path):
    """``{benchmark: path}`` of the two tiny math benchmarks (aime24 as .jsonl, aime25 as .parquet)."""
    import json

    import pandas as pd

    paths = {"aime24": str(tmp_path / "aime24.jsonl"), "aime25": str(tmp_path / "aime25.parquet")}
    with open(paths["aime24"], "w") as fh:
        fh.writelines(json.dumps(row("aime24", i, a, b)) + "\n" for i, (a, b) in enumerate(BENCHES["aime24"]))
    pd.DataFrame([row("aime25", i, a, b) for i, (a, b) in enumerate(BENCHES["aime25"])]).to_parquet(paths["aime25"])
    return paths
