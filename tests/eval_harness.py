"""Running `aios eval` as a user does, for the eval tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def aios_eval(
    cwd: Path, *argv: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`aios eval ARGV` as a user runs it; by default with no model key in its environment."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "OPENAI"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "eval", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
