"""Run the ablation grid: every (arm, seed) is one CPU demo training run on the ``family`` task.

``python -m verl_metaagent.ablate --out outputs/ablations`` runs the grid and writes the report
(``--report-dir``, default ``<out>/report``). It is resumable per run: a run whose
``record.json`` exists is skipped; a failed or interrupted run is started again from scratch
(its failure is kept in ``failed.json``). The warm start is built once per seed and shared by
every arm of that seed. One progress line per finished run, with the time left.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from verl_metaagent.ablate.arms import ARMS, Arm, scaled_phase_length, select_arms
from verl_metaagent.ablate.record import build_record

#: ``--quick``: the CI smoke (2 arms, 1 seed, 2 steps, a small warm start).
QUICK = {"arms": "alternate,m8n1", "seeds": "0", "steps": 2, "problems": 6, "batch_size": 3, "warmstart_steps": 60}


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(prog="python -m verl_metaagent.ablate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="outputs/ablations", help="runs go to <out>/runs/<arm>/seed<s>")
    p.add_argument("--arms", default=None, help=f"comma-separated subset of: {', '.join(ARMS)} (default: all)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (warm start, data order, sampling)")
    p.add_argument("--steps", type=int, default=20, help="RL steps per run")
    p.add_argument("--phases", type=int, default=4, help="alternating phases per run: K = steps // phases")
    p.add_argument("--problems", type=int, default=24, help="RL problems, split evenly over the task's kinds")
    p.add_argument("--batch-size", type=int, default=6, help="problems per step")
    p.add_argument("--warmstart-steps", type=int, default=300, help="supervised warm-start steps (one per seed)")
    p.add_argument("--report-dir", default=None,
                   help="where results.json, tables.md and curves.png go (default <out>/report)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from the finished runs")
    p.add_argument("--quick", action="store_true", help=f"CI smoke: {QUICK}")
    p.add_argument("--import-results", default=None, metavar="RESULTS_JSON",
                   help="first take the runs recorded in a results.json (e.g. the committed "
                        "docs/ablations/results.json) as finished, if they were made with the same settings; "
                        "the grid then runs only the rest")
    p.add_argument("extra", nargs="*", help="extra Hydra overrides for every run (after --)")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


def run_dir(out: Path, arm: Arm, seed: int) -> Path:
    return out / "runs" / arm.name / f"seed{seed}"


def demo_command(args: argparse.Namespace, arm: Arm, seed: int, out: Path) -> list[str]:
    """The ``python -m verl_metaagent.demo`` command of one run."""
    k = scaled_phase_length(args.steps, args.phases)
    return [
        sys.executable, "-m", "verl_metaagent.demo",
        "--task", "family",
        "--out", str(run_dir(out, arm, seed)),
        "--steps", str(args.steps),
        "--seed", str(seed),
        "--problems", str(args.problems),
        "--batch-size", str(args.batch_size),
        "--save-freq", str(args.steps),
        "--warmstart-steps", str(args.warmstart_steps),
        *arm.demo_args(k),
        "--", *arm.overrides, *args.extra,
    ]


def _shared_warm_start(out: Path, seed: int, steps: int) -> Path:
    """The seed's warm-start model, built once under ``<out>/warmstart/seed<s>``.

    Runners sharing one ``--out`` take an exclusive lock on ``seed<s>.lock`` first, so a second
    runner waits for the first one's build and then reuses it instead of writing the same files.
    """
    from verl_metaagent.demo.warmstart import WarmStartConfig, warm_start

    target = out / "warmstart" / f"seed{seed}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"seed{seed}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        model_dir, _ = warm_start(target, WarmStartConfig(steps=steps, seed=seed, task_name="family"))
    return Path(model_dir)


def _comparable(command: list[str]) -> list[str]:
    """A run's command without what does not change its result (the interpreter, the output path)."""
    out = list(command[1:])
    if "--out" in out:
        i = out.index("--out")
        del out[i:i + 2]
    return out


def import_results(args: argparse.Namespace, results_path: Path, out: Path) -> tuple[int, list[str]]:
    """Write each record of ``results_path`` whose command equals this grid's command for its
    (arm, seed) to ``<out>/runs/<arm>/seed<s>/record.json`` (existing records are kept).

    Returns ``(imported, refused)``; ``refused`` names the records made with other settings.
    """
    try:
        records = json.loads(Path(results_path).read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"--import-results {results_path}: cannot read it as JSON ({e})") from None
    if not isinstance(records, list):
        raise SystemExit(f"--import-results {results_path}: expected a JSON list of run records")
    imported, refused = 0, []
    for rec in records:
        rec = rec if isinstance(rec, dict) else {}
        name, seed = rec.get("arm"), rec.get("seed")
        if name not in ARMS or not isinstance(seed, int):
            refused.append(f"{name}/seed{seed} (not an arm of this runner)")
            continue
        expected = _comparable(demo_command(args, ARMS[name], seed, out))
        recorded = _comparable(rec.get("settings", {}).get("command") or [""])
        if recorded != expected:
            refused.append(f"{name}/seed{seed} (made with other settings)")
            continue
        path = run_dir(out, ARMS[name], seed) / "record.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(rec, indent=1))
            imported += 1
    return imported, refused


def run_one(args: argparse.Namespace, arm: Arm, seed: int, out: Path) -> Optional[dict]:
    """Run one (arm, seed) unless its record exists; returns the record (None if the run failed,
    ``{"skipped_for": pid}`` if another live runner holds it).

    Several runners may share one ``--out``: a run another live runner holds (``<run>.lock``) is skipped.
    """
    rdir = run_dir(out, arm, seed)
    record_path = rdir / "record.json"
    if record_path.exists():
        return json.loads(record_path.read_text())
    owner = _live_owner(rdir.parent / f"{rdir.name}.lock")
    if owner is not None:
        return {"skipped_for": owner}
    shutil.rmtree(rdir, ignore_errors=True)
    rdir.mkdir(parents=True)
    lock = rdir.parent / f"{rdir.name}.lock"
    lock.write_text(str(os.getpid()))
    try:
        return _run_fresh(args, arm, seed, out, rdir, record_path)
    finally:
        lock.unlink(missing_ok=True)


def _live_owner(lock: Path) -> Optional[int]:
    """The pid in ``lock`` if that process is alive (another runner on the same ``--out``), else None."""
    try:
        pid = int(lock.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() else None


def _run_fresh(args: argparse.Namespace, arm: Arm, seed: int, out: Path, rdir: Path,
               record_path: Path) -> Optional[dict]:
    (rdir / "model").symlink_to(_shared_warm_start(out, seed, args.warmstart_steps), target_is_directory=True)
    cmd = demo_command(args, arm, seed, out)
    started = time.monotonic()
    with open(rdir / "demo.log", "wb") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    summary_path = rdir / "summary.json"
    if rc != 0 or not summary_path.exists():
        (rdir / "failed.json").write_text(json.dumps({"exit_code": rc, "seconds": seconds, "command": cmd}, indent=1))
        return None
    record = build_record(
        arm=arm.name, seed=seed, summary=json.loads(summary_path.read_text()), metrics_path=rdir / "metrics.jsonl",
        settings={"steps": args.steps, "phase_length": scaled_phase_length(args.steps, args.phases),
                  "describe": arm.describe(scaled_phase_length(args.steps, args.phases)), "command": cmd},
    )
    record["wall_seconds"] = round(seconds, 1)
    tmp = record_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, record_path)
    return record


def main(argv: Optional[list[str]] = None) -> int:
    """Run the grid (or only the report); returns 1 if any run failed."""
    args = parse_args(argv)
    out = Path(args.out).resolve()
    arms = select_arms(args.arms)
    seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
    if not seeds:
        raise SystemExit("--seeds: give at least one seed, e.g. --seeds 0,1,2")
    if args.steps < 1:
        raise SystemExit("--steps: must be >= 1")
    report_dir = Path(args.report_dir).resolve() if args.report_dir else out / "report"
    failed = []
    if args.import_results:
        imported, refused = import_results(args, Path(args.import_results), out)
        print(f"[ablate] imported {imported} finished runs from {args.import_results}"
              + (f"; not imported: {', '.join(refused)}" if refused else ""), flush=True)
    if not args.report_only:
        jobs = [(arm, seed) for seed in seeds for arm in arms]
        started = time.monotonic()
        ran = 0
        for i, (arm, seed) in enumerate(jobs, 1):
            fresh = not (run_dir(out, arm, seed) / "record.json").exists()
            t0 = time.monotonic()
            record = run_one(args, arm, seed, out)
            ran += fresh
            done_s = time.monotonic() - started
            left = (len(jobs) - i) * (done_s / ran) if ran else 0.0
            if record is not None and "skipped_for" in record:
                print(f"[ablate] {i}/{len(jobs)} {arm.name} seed {seed}: being run by process {record['skipped_for']}; "
                      "skipped here (re-run later to include it)", flush=True)
                continue
            status = "failed" if record is None else f"final reward {record['final_reward']:.3f}"
            print(f"[ablate] {i}/{len(jobs)} {arm.name} seed {seed}: {status} "
                  f"({'cached' if not fresh else f'{time.monotonic() - t0:.0f} s'}; about {left / 60:.0f} min left)",
                  flush=True)
            if record is None:
                failed.append(f"{arm.name}/seed{seed}")
    from verl_metaagent.ablate.report import write_report

    paths = write_report(out, report_dir, [a.name for a in arms], seeds)
    print(f"[ablate] report: {', '.join(str(p) for p in paths)}", flush=True)
    if failed:
        print(f"[ablate] failed runs (see their demo.log / failed.json; re-run to retry): {', '.join(failed)}",
              file=sys.stderr)
    return 1 if failed else 0
