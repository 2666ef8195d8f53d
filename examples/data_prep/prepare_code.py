"""Code datasets -> verl parquet (ground truth = JSON ``{"inputs", "outputs", "fn_name"?}``, graded by
reward_fns' code grader; ``extra_info.public_tests`` = the few tests a design may run).

    python examples/data_prep/prepare_code.py --dataset apps --split train --output data/apps_train.parquet
    python examples/data_prep/prepare_code.py --dataset codecontests --split test --output data/cc_test.parquet
    python examples/data_prep/prepare_code.py --dataset livecodebench_v6 --output data/lcb_v6.parquet

| --dataset        | Hugging Face source (default)                                           | data_source           |
|------------------|-------------------------------------------------------------------------|-----------------------|
| apps             | codeparrot/apps raw files ``{split}.jsonl`` (train / test)              | code/apps             |
| codecontests     | deepmind/code_contests (train / valid / test)                           | code/codecontests     |
| livecodebench_v6 | livecodebench/code_generation_lite raw file ``test6.jsonl`` (v6 window) | code/livecodebench_v6 |

Hidden tests (ground truth) and public tests:

* APPS: ``input_output`` (JSON string; ``fn_name`` = call-based with starter code). APPS has no
  separate public tests: the first ``--num-public`` tests are shown (they stay in the hidden set).
* CodeContests: hidden = ``public_tests`` + ``private_tests`` + ``generated_tests`` (at most
  ``--max-tests`` in that order); public = ``public_tests``. Problems reading/writing files
  (``input_file``/``output_file``) are dropped: the grader feeds stdin.
* LiveCodeBench: hidden = ``public_test_cases`` + ``private_test_cases`` (LiveCodeBench's own
  evaluation order); public = ``public_test_cases``. Private tests come either as a JSON string or
  compressed (base64 of zlib of a pickled JSON string); the pickle is read with an unpickler that
  refuses every global, so only plain strings/containers can come out of it. Functional
  (LeetCode) problems get ``fn_name`` = ``metadata.func_name`` (a method of ``class Solution``).

Dropped rows (counted): no statement, no tests, file I/O, malformed tests, duplicates.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import pickle
import sys
import zlib
from typing import Any, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dp_common import (  # noqa: E402
    DataPrepError,
    Report,
    add_common_args,
    code_prompt,
    convert_and_write,
    load_hf,
    load_rows,
    make_row,
    pick,
    tests_json,
)

SOURCES = {
    "apps": {"repo": "codeparrot/apps", "split": "train", "data_source": "code/apps"},
    "codecontests": {"repo": "deepmind/code_contests", "split": "train", "data_source": "code/codecontests"},
    "livecodebench_v6": {"repo": "livecodebench/code_generation_lite", "split": "test",
                         "data_source": "code/livecodebench_v6"},
}
LCB_FILES = {"v6": ["test6.jsonl"], "release_v6": [f"test{s}.jsonl" for s in ("", "2", "3", "4", "5", "6")]}


# --------------------------------------------------------------------------------------------- LiveCodeBench


class _NoGlobalsUnpickler(pickle.Unpickler):
    """Unpickler for LiveCodeBench's compressed tests: plain str/list/dict only, no class or function."""

    def find_class(self, module, name):  # noqa: D401 - pickle API
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from dataset test data")


def decode_lcb_tests(raw: Any) -> list[dict]:
    """LiveCodeBench ``public_test_cases`` / ``private_test_cases`` -> ``[{"input", "output", "testtype"}]``.

    Accepts a JSON string, an already-parsed list, or the compressed form
    ``base64(zlib(pickle(json_string)))``.

    Raises:
        ValueError: if the value is in none of these forms.
    """
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return raw
    text = str(raw)
    try:
        value = json.loads(text)
    except ValueError:
        try:
            blob = zlib.decompress(base64.b64decode(text.encode("utf-8")))
            value = _NoGlobalsUnpickler(io.BytesIO(blob)).load()
        except Exception as exc:
            raise ValueError(f"not JSON and not base64/zlib/pickle test data ({type(exc).__name__}: {exc})") from exc
        if isinstance(value, (bytes, str)):
            value = json.loads(value)
    if not isinstance(value, list):
        raise ValueError(f"test cases must decode to a list, got {type(value).__name__}")
    return value


def encode_lcb_tests(tests: list[dict]) -> str:
    """Inverse of the compressed form (for fixtures and tests)."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode("ascii")


def _lcb_row(src: dict, report: Report, split: str, num_public: int) -> Optional[dict]:
    title = str(pick(src, "question_title", default="") or "").strip()
    content = str(pick(src, "question_content", default="") or "").strip()
    if not content:
        report.drop("no statement")
        return None
    try:
        public = decode_lcb_tests(src.get("public_test_cases"))
        private = decode_lcb_tests(src.get("private_test_cases"))
        meta = src.get("metadata") or {}
        meta = json.loads(meta) if isinstance(meta, str) else meta
    except ValueError:
        report.drop("malformed tests")
        return None
    tests = public + private
    if not tests:
        report.drop("no tests")
        return None
    functional = any(str(t.get("testtype", "")).lower() == "functional" for t in tests)
    fn_name = (meta or {}).get("func_name") if functional else None
    if functional and not fn_name:
        report.drop("functional tests without metadata.func_name")
        return None
    starter = str(pick(src, "starter_code", default="") or "")
    question = f"{title}\n\n{content}" if title else content
    show = public[:num_public] if public else tests[:num_public]
    return make_row(
        data_source=SOURCES["livecodebench_v6"]["data_source"],
        ability="code",
        prompt_text=code_prompt(question, starter_code=starter, fn_name=fn_name, call_style="method"),
        ground_truth=tests_json([t["input"] for t in tests], [t["output"] for t in tests], fn_name),
        question=question,
        split=split,
        source_id=pick(src, "question_id", default=""),
        difficulty=pick(src, "difficulty", default=""),
        public_tests=tests_json([t["input"] for t in show], [t["output"] for t in show], fn_name),
        starter_code=starter,
    )


# --------------------------------------------------------------------------------------------- APPS


def _apps_row(src: dict, report: Report, split: str, num_public: int) -> Optional[dict]:
    question = str(pick(src, "question", default="") or "").strip()
    if not question:
        report.drop("no statement")
        return None
    raw = src.get("input_output")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        report.drop("no tests")
        return None
    try:
        io_spec = json.loads(raw) if isinstance(raw, str) else (raw or {})
    except ValueError:
        report.drop("malformed tests")
        return None
    inputs, outputs = list(io_spec.get("inputs") or []), list(io_spec.get("outputs") or [])
    if not inputs or len(inputs) != len(outputs):
        report.drop("no tests" if not inputs else "malformed tests")
        return None
    fn_name = io_spec.get("fn_name") or None
    starter = str(pick(src, "starter_code", default="") or "")
    # Call-based APPS (LeetCode-style) starter code defines `class Solution`; others are plain functions.
    style = "method" if "class Solution" in starter else "function"
    return make_row(
        data_source=SOURCES["apps"]["data_source"],
        ability="code",
        prompt_text=code_prompt(question, starter_code=starter, fn_name=fn_name, call_style=style),
        ground_truth=tests_json(inputs, outputs, fn_name),
        question=question,
        split=split,
        source_id=pick(src, "problem_id", "id", default=""),
        difficulty=pick(src, "difficulty", default=""),
        public_tests=tests_json(inputs[:num_public], outputs[:num_public], fn_name),
        starter_code=starter,
    )


# --------------------------------------------------------------------------------------------- CodeContests


def _cc_tests(value: Any) -> tuple[list, list]:
    value = value or {}
    return list(value.get("input") or []), list(value.get("output") or [])


def _cc_row(src: dict, report: Report, split: str, num_public: int, max_tests: int) -> Optional[dict]:
    question = str(pick(src, "description", default="") or "").strip()
    if not question:
        report.drop("no statement")
        return None
    if str(src.get("input_file") or "").strip() or str(src.get("output_file") or "").strip():
        report.drop("file I/O (input_file/output_file)")
        return None
    pub_in, pub_out = _cc_tests(src.get("public_tests"))
    inputs, outputs = list(pub_in), list(pub_out)
    for key in ("private_tests", "generated_tests"):
        more_in, more_out = _cc_tests(src.get(key))
        inputs += more_in
        outputs += more_out
    if not inputs or len(inputs) != len(outputs):
        report.drop("no tests" if not inputs else "malformed tests")
        return None
    if max_tests and len(inputs) > max_tests:
        inputs, outputs = inputs[:max_tests], outputs[:max_tests]
    show_in, show_out = (pub_in, pub_out) if pub_in else (inputs, outputs)
    rating = src.get("cf_rating")
    return make_row(
        data_source=SOURCES["codecontests"]["data_source"],
        ability="code",
        prompt_text=code_prompt(question),
        ground_truth=tests_json(inputs, outputs),
        question=question,
        split=split,
        source_id=pick(src, "name", default=""),
        difficulty=rating if rating else pick(src, "difficulty", default=""),
        public_tests=tests_json(show_in[:num_public], show_out[:num_public]),
    )


# --------------------------------------------------------------------------------------------- CLI


def row_converter(ds: str, split: str, *, num_public: int = 3, max_tests: int = 64):
    """``to_row(source_row, report)`` for ``ds``."""
    if ds == "apps":
        return lambda src, report: _apps_row(src, report, split, num_public)
    if ds == "codecontests":
        return lambda src, report: _cc_row(src, report, split, num_public, max_tests)
    if ds == "livecodebench_v6":
        return lambda src, report: _lcb_row(src, report, split, num_public)
    raise DataPrepError(f"--dataset {ds!r} is not one of {', '.join(sorted(SOURCES))}")


def _hf_loader(ds: str, split: str, repo: Optional[str], lcb_version: str):
    src = SOURCES[ds]
    repo = repo or src["repo"]
    if ds == "apps":  # the repo's loading script is not run by datasets>=4: read its raw jsonl files
        return lambda: load_hf(repo, split=split, data_files=f"hf://datasets/{repo}/{split}.jsonl")
    if ds == "livecodebench_v6":
        if lcb_version not in LCB_FILES:
            raise DataPrepError(f"--lcb-version {lcb_version!r}: use one of {', '.join(LCB_FILES)}")
        files = [f"hf://datasets/{repo}/{name}" for name in LCB_FILES[lcb_version]]
        return lambda: load_hf(repo, split=split, data_files=files)
    return lambda: load_hf(repo, split=split)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=sorted(SOURCES))
    parser.add_argument("--hf-repo", default=None, help="override the Hugging Face repo id")
    parser.add_argument("--num-public", type=int, default=3, help="public tests a design may see/run (default 3)")
    parser.add_argument("--max-tests", type=int, default=64,
                        help="CodeContests: cap on hidden tests per problem (0 = all)")
    parser.add_argument("--lcb-version", default="v6",
                        help="LiveCodeBench window: v6 (test6.jsonl, default) or release_v6 (all)")
    add_common_args(parser)
    args = parser.parse_args(argv)
    split = args.split or SOURCES[args.dataset]["split"]
    rows = load_rows(args.input, _hf_loader(args.dataset, split, args.hf_repo, args.lcb_version))
    our_split = "train" if split == "train" else "test"
    report = Report(f"{args.dataset}/{split}")
    return convert_and_write(args, rows, row_converter(args.dataset, our_split, num_public=args.num_public,
                                                       max_tests=args.max_tests), report)


if __name__ == "__main__":
    sys.exit(main())
