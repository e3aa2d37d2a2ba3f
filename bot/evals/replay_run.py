"""`aios eval --replay OWNER/NAME --last N`: read the history, build its tasks, run the suite."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bot.evals.history import HistoryError, read_history
from bot.evals.models import EXIT_USAGE
from bot.evals.replay import Built, ReplayError, build, fetch
from bot.evals.suite import Options, run_suite
from bot.settings import Settings

TASKS = "tasks"
RUNS = "runs"
SOURCE = "source.git"


def run_replay(settings: Settings, repo: str, last: int, options: Options) -> int:
    """Exit 0 when every replayed issue is resolved, 1 when some are not, 2 when the history
    cannot be read or holds no issue to replay.

    Under `options.workdir` (else a temporary directory, removed at the end): `source.git`
    (what was fetched), `tasks/<name>-<issue>/` (one task per issue) and `runs/` (the runs).
    """
    workdir = options.workdir
    root = workdir or Path(tempfile.mkdtemp(prefix="aios-replay-"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        try:
            history = asyncio.run(read_history(settings, repo, last))
            print(f"{repo}: {len(history.fixes)} closed issue(s) fixed by a merged pull request")
            bare = fetch(history, root / SOURCE)
            built = [build(history, fix, bare, root / TASKS) for fix in history.fixes]
        except (HistoryError, ReplayError) as exc:
            print(f"aios: {exc}", file=sys.stderr)
            return EXIT_USAGE
        names, skipped = [], []
        for entry in built:
            where = f"  #{entry.fix.issue} (fixed by #{entry.fix.pull})"
            if isinstance(entry, Built):
                names.append(entry.name)
                print(f"{where}: task {entry.name}, hidden tests {', '.join(entry.fix.tests)}")
                if entry.left_out:
                    print(f"    {entry.left_out} binary or linked file(s) left out of its project")
            else:
                print(f"{where}: skipped, {entry.reason}")
                skipped.append(
                    {"issue": entry.fix.issue, "pull": entry.fix.pull, "reason": entry.reason}
                )
        if not names:
            print(f"aios: no issue of {repo} can be replayed (see above)", file=sys.stderr)
            return EXIT_USAGE
        sys.stdout.flush()
        return run_suite(root / TASKS, names, replace(options, workdir=root / RUNS), skipped)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
