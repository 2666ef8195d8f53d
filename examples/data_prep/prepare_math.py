"""Math datasets -> verl parquet (ground truth = answer string, graded by reward_fns' math grader).

    python examples/data_prep/prepare_math.py --dataset polaris --output data/polaris_train.parquet
    python examples/data_prep/prepare_math.py --dataset aime24 --output data/aime24.parquet
    python examples/data_prep/prepare_math.py --dataset olympiadbench --input ob.parquet --output data/ob.parquet

| --dataset       | Hugging Face source (default)                              | columns used                          | data_source          |
|-----------------|------------------------------------------------------------|---------------------------------------|----------------------|
| polaris         | POLARIS-Project/Polaris-Dataset-53K, split train           | problem, answer, difficulty           | math/polaris         |
| aime24          | Maxwell-Jia/AIME_2024, split train                         | ID, Problem, Answer                   | math/aime24          |
| aime25          | yentinglin/aime_2025, split train                          | id, problem, answer                   | math/aime25          |
| olympiadbench   | Hothan/OlympiadBench, config OE_TO_maths_en_COMP, train    | id, question, final_answer (list), image_1..5, unit, is_multiple_answer | math/olympiadbench |

The AIME/OlympiadBench repos are the ones the public MetaAgent-X release reads; ``--hf-repo`` /
``--hf-config`` point at another copy with the same columns (lower/upper case both accepted).
Dropped rows (counted): no question, no answer, image needed (OlympiadBench), duplicates.
"""  # noqa: E501

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dp_common import (  # noqa: E402
    MATH_INSTRUCTION,
    Report,
    add_common_args,
    convert_and_write,
    load_hf,
    load_rows,
    make_row,
    pick,
)

SOURCES = {
    "polaris": {"repo": "POLARIS-Project/Polaris-Dataset-53K", "config": None, "split": "train",
                "data_source": "math/polaris"},
    "aime24": {"repo": "Maxwell-Jia/AIME_2024", "config": None, "split": "train", "data_source": "math/aime24"},
    "aime25": {"repo": "yentinglin/aime_2025", "config": None, "split": "train", "data_source": "math/aime25"},
    "olympiadbench": {
        "repo": "Hothan/OlympiadBench",
        "config": "OE_TO_maths_en_COMP",
        "split": "train",
        "data_source": "math/olympiadbench",
    },
}


def clean_answer(raw) -> str:
    """An answer string from a source value: lists joined with ", ", surrounding ``$...$`` removed,
    integers as written (``"033"`` stays; the grader compares numerically)."""
    if isinstance(raw, (list, tuple)):
        parts = [clean_answer(x) for x in raw]
        return ", ".join(p for p in parts if p)
    s = str(raw).strip()
    while len(s) >= 2 and s.startswith("$") and s.endswith("$"):
        s = s[1:-1].strip()
    return s


def _math_row(ds: str, split: str, question, answer, source_id, difficulty) -> dict:
    question = str(question).strip()
    return make_row(
        data_source=SOURCES[ds]["data_source"],
        ability="math",
        prompt_text=f"{question}\n\n{MATH_INSTRUCTION}",
        ground_truth=answer,
        question=question,
        split=split,
        source_id=source_id,
        difficulty=difficulty,
    )


def row_converter(ds: str, split: str):
    """``to_row(source_row, report)`` for ``ds`` (see the table in the module docstring)."""

    def to_row(src: dict, report: Report) -> Optional[dict]:
        if ds == "olympiadbench":
            question = pick(src, "question")
            if any(pick(src, f"image_{i}") for i in range(1, 6)) or "<image_" in str(question or ""):
                report.drop("needs an image")
                return None
            context = pick(src, "context")
            if context:
                question = f"{str(context).strip()}\n\n{question}"
            answer = clean_answer(pick(src, "final_answer", default=""))
            unit = pick(src, "unit")
            if unit and question:
                question = f"{question}\n\n(Give the answer in {clean_answer(unit)}.)"
            difficulty = pick(src, "difficulty", default="")
        else:
            question = pick(src, "problem", "question", "Problem")
            answer = clean_answer(pick(src, "answer", "Answer", default=""))
            difficulty = pick(src, "difficulty", "level", default="")
        if not question or not str(question).strip():
            report.drop("no question")
            return None
        if not answer:
            report.drop("no answer")
            return None
        source_id = pick(src, "id", "ID", "problem_id", "unique_id", default="")
        return _math_row(ds, split, question, answer, source_id, difficulty)

    return to_row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=sorted(SOURCES))
    parser.add_argument("--hf-repo", default=None, help="override the Hugging Face repo id")
    parser.add_argument("--hf-config", default=None, help="override the Hugging Face config name")
    add_common_args(parser)
    args = parser.parse_args(argv)
    src = SOURCES[args.dataset]
    split = args.split or src["split"]
    rows = load_rows(
        args.input,
        lambda: load_hf(args.hf_repo or src["repo"], config=args.hf_config or src["config"], split=split),
    )
    report = Report(args.dataset)
    return convert_and_write(args, rows, row_converter(args.dataset, "train" if args.dataset == "polaris" else "test"),
                             report)


if __name__ == "__main__":
    sys.exit(main())
