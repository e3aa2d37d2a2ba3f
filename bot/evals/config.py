"""`aios eval --config FILE`: the `.github/aios.yml` under evaluation, committed to every task.

A route per role, budgets, workflow settings: whatever the file says is what the agents run
with, so two configurations can be compared on the same tasks. A task's own `environment`
section stays: how to set up and test the project is the project's, not the configuration's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.config.parse import parse_repo_config
from bot.config.schema import CONFIG_PATH

PROJECT_SECTIONS = ("environment",)


class EvalConfigError(ValueError):
    """A `--config` file that AIOS would refuse: `str()` names the file and each problem."""


def read_config(path: Path) -> dict[str, Any]:
    """The file's settings, checked exactly as AIOS checks a repository's file.

    Raises:
        EvalConfigError: unreadable, or with any problem AIOS would report on an issue.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise EvalConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    result = parse_repo_config(text)
    # Warnings too: a misspelt key AIOS would ignore means the run measures something else.
    if result.errors or result.warnings:
        problems = "; ".join(
            f"{f'line {p.line}: ' if p.line else ''}{p.path or '(file)'}: {p.message}"
            for p in [*result.errors, *result.warnings]
        )
        raise EvalConfigError(f"{path}: not a valid {CONFIG_PATH}: {problems}")
    return yaml.safe_load(text) or {}


def with_config(files: dict[str, str], config: dict[str, Any] | None) -> dict[str, str]:
    """The project's files with `config` as its `.github/aios.yml` (the project's own
    `environment` kept)."""
    if config is None:
        return files
    own = yaml.safe_load(files.get(CONFIG_PATH, "")) or {}
    merged = {**config, **{k: own[k] for k in PROJECT_SECTIONS if k in own}}
    return {**files, CONFIG_PATH: yaml.safe_dump(merged, sort_keys=False)}
