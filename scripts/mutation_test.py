#!/usr/bin/env python
"""Mutation testing of the pure core with mutmut: the kill rate per module group.

    .venv/bin/python scripts/mutation_test.py                      # every group
    .venv/bin/python scripts/mutation_test.py --only advantage,phases --max-children 2 --json out.json

Each group (module files + the fast unit tests that own them) runs in its own throw-away copy of the
checkout (``mutmut`` writes its mutants and state next to the code, and the copy keeps other people's work
tree untouched). mutmut runs the group's tests once to learn which tests reach which function, then runs,
per mutant, only those tests. A mutant is *killed* when a test fails (or times out); it *survives* when
every test passes or when no test reaches it.

Survivors judged equivalent (the mutated program behaves the same for every input the code can get) are
listed with the reason in ``scripts/mutation_equivalents.json`` as ``{"mutant", "change", "why"}``, where
``change`` is the mutated line as mutmut shows it; an entry whose line no longer matches is reported as
stale. The report gives, per group, the raw kill rate (killed / mutants) and the rate over non-equivalent
mutants, and prints every survivor with its diff. Exit code 1 if a group is under ``--target`` (default
0.9) after equivalents.

CPU heavy (minutes per group on 2 cores); not part of the default test run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "scripts" / "mutation_equivalents.json"

# group: (files to mutate, the fast unit tests that own them)
GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "advantage": (("verl_metaagent/advantage/core.py",), ("tests/advantage/test_core.py",)),
    "phases": (("verl_metaagent/phases.py",), ("tests/advantage/test_phases.py",)),
    "trainer": (
        ("verl_metaagent/trainer/batch_assembly.py", "verl_metaagent/trainer/step_plan.py"),
        (
            "tests/trainer/test_batch_assembly.py",
            "tests/trainer/test_batch_assembly_rules.py",
            "tests/trainer/test_step_plan.py",
            "tests/trainer/test_step_plan_rules.py",
        ),
    ),
    "tree_rows": (
        ("verl_metaagent/rollout/tree.py", "verl_metaagent/rollout/rows.py"),
        ("tests/rollout/test_tree_logic.py", "tests/rollout/test_rows.py"),
    ),
    "reward_compare": (
        ("reward_fns/math/compare.py", "reward_fns/code/compare.py"),
        ("tests/reward_fns/test_compare_rules.py",),
    ),
    "distill": (
        ("verl_metaagent/distill/journal.py", "verl_metaagent/distill/select.py"),
        ("tests/distill/test_records_select_journal.py", "tests/distill/test_select_journal_rules.py"),
    ),
}
COPIED = ("verl_metaagent", "metaagent_sandbox", "reward_fns", "tests", "pytest.ini")
DETECTED = ("killed", "timeout", "segfault", "suspicious", "caught by type check")


@dataclass
class GroupResult:
    """Outcome of one group's run."""

    group: str
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[dict] = field(default_factory=list)  # {"mutant", "status", "diff", "change", "why"|None}
    stale_equivalents: list[dict] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def killed(self) -> int:
        return sum(n for status, n in self.counts.items() if status in DETECTED)

    @property
    def equivalent(self) -> int:
        return sum(1 for s in self.survivors if s["why"])

    def rate(self, *, without_equivalents: bool) -> float:
        total = self.total - (self.equivalent if without_equivalents else 0)
        return self.killed / total if total else 1.0


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in ("__pycache__", ".fixtures", "mutants") or n.endswith(".pyc")}


def prepare(work: Path, files: tuple[str, ...], tests: tuple[str, ...]) -> None:
    """A copy of the packages and tests with a ``[mutmut]`` section for one group."""
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=_ignore)
        else:
            shutil.copy2(src, work / name)
    lines = "\n    ".join
    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        f"source_paths =\n    {lines(files)}\n"
        f"also_copy =\n    {lines(COPIED)}\n"
        "pytest_add_cli_args = -p no:cacheprovider -q -x\n"
        f"pytest_add_cli_args_test_selection =\n    {lines(tests)}\n"
    )


def _mutmut(work: Path, *args: str, check: bool = True) -> str:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=work, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        output = done.stdout[-3000:] + done.stderr[-3000:]
        raise RuntimeError(f"mutmut {' '.join(args)} failed ({done.returncode}):\n{output}")
    return done.stdout


def changed_line(diff: str) -> str:
    """The mutated line of a mutmut diff (its first ``+`` line), stripped."""
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            return line[1:].strip()
    return ""


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, dict]:
    if not path.exists():
        return {}
    return {e["mutant"]: e for e in json.loads(path.read_text())}


def run_group(group: str, work: Path, max_children: int, equivalents: dict[str, dict]) -> GroupResult:
    files, tests = GROUPS[group]
    prepare(work, files, tests)
    _mutmut(work, "run", "--max-children", str(max_children), check=False)
    result = GroupResult(group)
    listing = _mutmut(work, "results", "--all", "true")
    for line in listing.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if not m:
            continue
        name, status = m.group(1), m.group(2).strip()
        result.counts[status] = result.counts.get(status, 0) + 1
        if status in DETECTED:
            continue
        diff = _mutmut(work, "show", name, check=False)
        change = changed_line(diff)
        entry = equivalents.get(name)
        why = entry["why"] if entry and entry.get("change") == change else None
        if entry and why is None:
            result.stale_equivalents.append(entry)
        result.survivors.append({"mutant": name, "status": status, "diff": diff, "change": change, "why": why})
    if not result.counts:
        raise RuntimeError(f"group {group}: mutmut produced no results (see {work})")
    return result


def report(results: list[GroupResult], target: float) -> str:
    out = [f"{'group':<16}{'mutants':>8}{'killed':>8}{'survived':>9}{'equiv.':>7}{'raw':>8}{'non-eq.':>9}"]
    for r in results:
        out.append(
            f"{r.group:<16}{r.total:>8}{r.killed:>8}{len(r.survivors):>9}{r.equivalent:>7}"
            f"{r.rate(without_equivalents=False):>8.1%}{r.rate(without_equivalents=True):>9.1%}"
        )
    for r in results:
        for s in r.survivors:
            label = f"equivalent: {s['why']}" if s["why"] else "NOT KILLED"
            out.append(f"\n[{r.group}] {s['mutant']} ({s['status']}) -- {label}\n{s['diff'].strip()}")
        for e in r.stale_equivalents:
            out.append(f"\n[{r.group}] stale entry in {EQUIVALENTS.name}: {e['mutant']} ({e['change']!r})")
    low = [r.group for r in results if r.rate(without_equivalents=True) < target]
    out.append(f"\ntarget {target:.0%} after equivalents: " + ("met" if not low else f"missed by {', '.join(low)}"))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help=f"comma-separated groups (default: all of {', '.join(GROUPS)})")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutant runs (default 1)")
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", type=Path, help="keep the work copies under this directory")
    args = parser.parse_args(argv)
    groups = [g for g in args.only.split(",") if g] or list(GROUPS)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {unknown}; choose from {', '.join(GROUPS)}")
    equivalents = load_equivalents()
    base = args.keep or Path(tempfile.mkdtemp(prefix="metaagent_mutation_"))
    results = []
    try:
        for group in groups:
            work = base / group
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            print(f"[mutation] {group}: {', '.join(GROUPS[group][0])}", file=sys.stderr, flush=True)
            results.append(run_group(group, work, args.max_children, equivalents))
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print(report(results, args.target))
    if args.json:
        args.json.write_text(json.dumps(
            [{"group": r.group, "counts": r.counts, "kill_rate": r.rate(without_equivalents=False),
              "kill_rate_non_equivalent": r.rate(without_equivalents=True), "survivors": r.survivors}
             for r in results], indent=1))
    return 0 if all(r.rate(without_equivalents=True) >= args.target for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
