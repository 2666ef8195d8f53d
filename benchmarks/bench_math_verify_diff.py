"""Differential test of the math grader against math-verify alone, on every labelled set.

Sets (``tests/reward_fns/labelled_sets.py``): ``ours`` (267 gradings labelled in this repository)
and ``independent`` (233 gradings labelled from written rules by a session that never saw the
grader). Labels are compared after the adjudications of ``tests/reward_fns/data/adjudication.jsonl``
(a label the written rules show wrong, with the reason); the raw-label agreement is printed too.

Baseline: math-verify used alone, the way its README shows:
``verify(parse("$" + gold + "$"), parse(response))`` with its default extraction configs
(LaTeX + expressions, boxed first) and default timeouts.

Prints one JSON object (agreement per set for both graders, every disagreement) and, with
``--write FILE``, writes every case where either grader disagrees with the (adjudicated) label
as a markdown table (the committed list is ``benchmarks/results/math_verify_diff.md``).

    .venv/bin/python benchmarks/bench_math_verify_diff.py [--quick] [--write benchmarks/results/math_verify_diff.md]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "reward_fns"))
QUICK_CASES = 40


def math_verify_alone(response: str, gold: str) -> bool:
    """The baseline: math-verify's own extraction and comparison, nothing of ours."""
    from math_verify import parse, verify

    try:
        target = gold if ("$" in gold or "\\boxed" in gold) else f"${gold}$"
        return bool(verify(parse(target), parse(response)))
    except Exception:  # noqa: BLE001 - a crash of the baseline counts as "not equal"
        return False


def ours(case) -> tuple[bool, str]:
    from reward_fns.math.grader import grade_math

    res = grade_math(case.response, case.gold, timeout=case.timeout)
    return res.correct, str(res.detail.get("pred", ""))


def run_set(name: str, quick: bool) -> dict:
    import labelled_sets

    cases = labelled_sets.load(name)
    if quick:
        cases = cases[:QUICK_CASES]
    adjudications = labelled_sets.adjudications()
    rows = []
    for case in cases:
        got, pred = ours(case)
        base = math_verify_alone(case.response, case.gold)
        rows.append({"case": case, "ours": got, "pred": pred, "math_verify": base})
    n = len(rows)
    out = {
        "cases": n,
        "adjudicated": sum(1 for r in rows if r["case"].id in adjudications),
        "ours_agree": sum(r["ours"] == r["case"].expected for r in rows),
        "math_verify_agree": sum(r["math_verify"] == r["case"].expected for r in rows),
        "ours_agree_raw_labels": sum(r["ours"] == r["case"].label for r in rows),
        "math_verify_agree_raw_labels": sum(r["math_verify"] == r["case"].label for r in rows),
        "disagreements": [],
    }
    out["ours_rate"] = round(out["ours_agree"] / n, 4) if n else None
    out["math_verify_rate"] = round(out["math_verify_agree"] / n, 4) if n else None
    for r in rows:
        case = r["case"]
        if r["ours"] != case.expected or r["math_verify"] != case.expected or case.id in adjudications:
            out["disagreements"].append({
                "id": case.id, "tag": case.tag, "gold": case.gold, "label": case.label, "expected": case.expected,
                "ours": r["ours"], "ours_pred": r["pred"][:120], "math_verify": r["math_verify"],
                "adjudication": adjudications.get(case.id, {}).get("reason", ""),
                "known_failure": labelled_sets.KNOWN_FAILURES.get(case.id, ""),
            })
    return out


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_markdown(path: Path, report: dict) -> None:
    lines = [
        "# Math grader vs math-verify alone: every disagreement with a label",
        "",
        "Written by `benchmarks/bench_math_verify_diff.py --write` "
        f"({report['baseline']['name']} {report['baseline']['version']}). `label` is the set's own label, "
        "`expected` the label after adjudication (`tests/reward_fns/data/adjudication.jsonl`).",
        "",
        "| set | cases | ours agree | math-verify agree |",
        "|---|---|---|---|",
    ]
    for name, s in report["sets"].items():
        lines.append(f"| {name} | {s['cases']} | {s['ours_agree']} ({s['ours_rate']:.1%}) | "
                     f"{s['math_verify_agree']} ({s['math_verify_rate']:.1%}) |")
    lines += ["", "| set | case | tag | gold | label | expected | ours | ours read | math-verify | note |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in report["sets"].items():
        for d in s["disagreements"]:
            note = d["adjudication"] or d["known_failure"]
            lines.append("| " + " | ".join(_cell(x) for x in (
                name, d["id"], d["tag"], f"`{d['gold']}`", d["label"], d["expected"], d["ours"], f"`{d['ours_pred']}`",
                d["math_verify"], note)) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


#: keys of the printed JSON (tests/test_benchmarks_quick.py) and of each entry under ``sets``
QUICK_KEYS = ("benchmark", "quick", "baseline", "sets", "never_worse_than_baseline")
MODE_KEYS = ("ours_agree", "math_verify_agree")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_CASES} cases of each set")
    parser.add_argument("--write", type=Path, help="write the disagreement table (markdown) here")
    args = parser.parse_args(argv)
    from importlib.metadata import version

    started = time.monotonic()
    report = {
        "benchmark": "math_verify_diff",
        "quick": args.quick,
        "baseline": {"name": "math-verify alone", "version": version("math-verify"),
                     "call": "verify(parse('$'+gold+'$'), parse(response)), default configs"},
        "sets": {name: run_set(name, args.quick) for name in ("ours", "independent")},
    }
    report["never_worse_than_baseline"] = all(s["ours_agree"] >= s["math_verify_agree"]
                                              for s in report["sets"].values())
    report["seconds"] = round(time.monotonic() - started, 1)
    if args.write:
        write_markdown(args.write, report)
    print(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
