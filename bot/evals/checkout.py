"""Checkouts of the task's bare repository on the host, and commands run in them: CI and judge."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 120.0
OUTPUT_CHARS = 6000
"""The tail of a command's output that is kept: enough for a traceback and a summary line."""


@dataclass(frozen=True)
class Outcome:
    passed: bool
    output: str
    """The tail of stdout and stderr together."""


def checkout(bare: Path, ref: str, into: Path) -> Path:
    """A work tree of `bare` at `ref` (a branch or a sha) in the new directory `into`."""
    git = ["git", "-c", "advice.detachedHead=false"]
    subprocess.run(
        [*git, "clone", "--quiet", "--no-checkout", "--", str(bare), str(into)],
        check=True,
        capture_output=True,
        timeout=GIT_TIMEOUT_S,
    )
    subprocess.run(
        [*git, "-C", str(into), "checkout", "--quiet", ref, "--"],
        check=True,
        capture_output=True,
        timeout=GIT_TIMEOUT_S,
    )
    return into


def add_files(source: Path, tree: Path) -> None:
    """Copy every file under `source` into `tree` at the same relative path (over any there)."""
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = tree / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def run_command(
    argv: Sequence[str],
    cwd: Path,
    timeout_s: float = COMMAND_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> Outcome:
    """Run `argv` in `cwd` (no shell), with `env` over this process's environment; passed
    when it exits 0 within `timeout_s`."""
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.output or b"").decode(errors="replace")
        return Outcome(False, f"{output[-OUTPUT_CHARS:]}\ntimed out after {timeout_s:.0f} s")
    except OSError as exc:
        return Outcome(False, f"could not run {argv[0]!r}: {exc}")
    output = done.stdout.decode(errors="replace")[-OUTPUT_CHARS:]
    return Outcome(done.returncode == 0, output)
