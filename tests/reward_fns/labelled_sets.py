"""The labelled math gradings: our own set and the independently labelled one, with adjudications.

``load(name)`` gives the cases of ``ours`` (``data/math_cases.jsonl``, labelled in this
repository; ids ``ours:<line>``) or ``independent`` (``data/independent/``, labelled from written
rules by a session that never saw the grader; its labels are never edited here). A label the
written rules show to be wrong is corrected only through ``data/adjudication.jsonl`` (set, id,
label, adjudicated label, reason); ``Case.expected`` is the adjudicated label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
SETS = {
    "ours": DATA / "math_cases.jsonl",
    "independent": DATA / "independent" / "math_cases_independent.jsonl",
}
ADJUDICATION = DATA / "adjudication.jsonl"
# Documented failures of our grader: {case id: why}. Keep this tiny.
KNOWN_FAILURES = {"ours:195": "i^2 vs -1: math-verify reads i as a symbol, not the imaginary unit"}


@dataclass(frozen=True)
class Case:
    """One labelled grading."""

    set: str
    id: str
    response: str
    gold: str
    label: bool
    expected: bool
    tag: str

    @property
    def timeout(self) -> float:
        return 2.0 if self.tag == "pathological" else 5.0


def adjudications() -> dict[str, dict]:
    """``{case id: adjudication row}`` from ``data/adjudication.jsonl``."""
    rows = [json.loads(line) for line in ADJUDICATION.read_text().splitlines() if line.strip()]
    return {row["id"]: row for row in rows}


def load(name: str) -> list[Case]:
    """The cases of labelled set ``name`` (``ours`` or ``independent``), adjudications applied."""
    adj = adjudications()
    cases = []
    for n, line in enumerate(SETS[name].read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        case_id = row.get("id") or f"{name}:{n}"
        label = bool(row["expected"])
        expected = adj[case_id]["adjudicated"] if case_id in adj else label
        cases.append(
            Case(name, case_id, row["response"], row["gold"], label, expected, row.get("tag") or row.get("class", "")))
    return cases
