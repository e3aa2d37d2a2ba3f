"""Benchmark: `aios eval`'s own overhead per task, and how a full run scales with `--jobs`.

Run: `.venv/bin/python benchmarks/evals.py [--jobs 1,2,3] [--tasks a,b]`. Runs the whole task
set (or `--tasks`) with the scripted model once per `--jobs` value, as a user runs it (a child
`aios eval`), and prints:

- per task, from the `--jobs 1` run (nothing else on the machine): where its wall time went:
  setup (its issue opened and labeled), pipeline (label to merge: the agents' jobs, the
  scripted maintainer, CI), judge (checkout and hidden tests); and what the run pays once: the
  local GitHub with every task's bare repository, `aios serve` and its workers started, and
  stopped at the end. The harness's overhead is everything but the pipelines; the pipeline
  itself is the baseline it is measured against.
- per `--jobs` value: the run's wall time, and its speed-up over `--jobs 1` measured in the
  same run of this script (the baseline).

The scripted model answers at once, so the pipeline here is AIOS's own time: with a real model
the model's time adds to it and the overhead's share shrinks. No target: figures only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("setup_s", "pipeline_s", "judge_s")


def run(jobs: int, tasks: str | None, scratch: Path) -> tuple[float, dict[str, Any]]:
    out = scratch / f"jobs{jobs}.json"
    argv = [sys.executable, "-m", "bot.cli", "eval", "--model", "scripted", "--jobs", str(jobs)]
    argv += ["--out", str(out), *(["--tasks", tasks] if tasks else [])]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    if not out.is_file():
        sys.exit(f"aios eval --jobs {jobs} wrote no results:\n{done.stdout}{done.stderr}")
    results = json.loads(out.read_text())
    if results["summary"]["resolved_rate"] != 1.0:
        sys.exit(f"aios eval --jobs {jobs}: not every task resolved:\n{done.stdout}")
    return wall, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="1,2,3", help="comma-separated --jobs values")
    parser.add_argument("--tasks", help="comma-separated task names (default: all)")
    args = parser.parse_args()
    levels = sorted({int(j) for j in args.jobs.split(",")} | {1})
    with tempfile.TemporaryDirectory(prefix="aios-bench-eval-") as scratch:
        runs = {jobs: run(jobs, args.tasks, Path(scratch)) for jobs in levels}

    _, serial = runs[1]
    print("per task, --jobs 1 (seconds):")
    print(f"  {'task':<24} {'setup':>6} {'pipeline':>9} {'judge':>6} {'wall':>6}")
    for task in serial["tasks"]:
        phases = task["phases"]
        cells = " ".join(
            f"{phases.get(p, 0):>{w}.1f}" for p, w in zip(PHASES, (6, 9, 6), strict=True)
        )
        print(f"  {task['name']:<24} {cells} {task['wall_s']:>6.1f}")
    overheads = [
        t["wall_s"] - t["phases"].get("pipeline_s", 0) for t in serial["tasks"] if t["phases"]
    ]
    pipelines = [t["phases"].get("pipeline_s", 0) for t in serial["tasks"]]
    print(
        f"harness overhead per task: median {statistics.median(overheads):.1f} s "
        f"(setup + judge) against a median pipeline of "
        f"{statistics.median(pipelines):.1f} s (the baseline: AIOS's own work)"
    )
    baseline, _ = runs[1]
    start = baseline - sum(t["wall_s"] for t in serial["tasks"])
    print(
        f"once per run: {start:.1f} s (the OpenAPI description and the App's key loaded, the "
        "local GitHub and its repositories, `aios serve` started and stopped)"
    )
    print(f"\nwhole set ({serial['summary']['tasks']} tasks), scripted model:")
    for jobs, (wall, _) in runs.items():
        print(f"  --jobs {jobs}: {wall:6.1f} s  ({baseline / wall:.2f}x the --jobs 1 baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
