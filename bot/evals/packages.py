"""A task's own packages, built as wheels and served from a loopback index for its run: the
private registry its project installs from, for packages no public registry has.

`evals/tasks/<name>/packages/<dist>-<version>/` holds one package's files at their paths in
the wheel (`tally/__init__.py`). The index's address changes every run, so the project names
none: `aios serve` gets it as an operator with a private mirror would set one up, with
`PIP_INDEX_URL` let into the sandbox (`AIOS_SANDBOX_ENV_ALLOW`) and the index as the only host
a setup reaches (`AIOS_EGRESS_ALLOW`, `AIOS_EGRESS_CEILING`); the CI and judge commands get
`PIP_INDEX_URL` in their environment, so the same `pip install -r requirements.txt` works there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.testbed.package_index import PackageIndex, build_wheel

PACKAGES = "packages"
PACKAGE_DIR = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)-(?P<version>\d+(?:\.\d+)*)$"
)
INDEX_VARIABLE = "PIP_INDEX_URL"


@dataclass(frozen=True)
class TaskPackages:
    """What the run's processes need to install the task's packages (empty without any)."""

    serve: dict[str, str] = field(default_factory=dict)
    """Settings for the task's `aios serve`: the index reachable from the setup's sandbox."""
    commands: dict[str, str] = field(default_factory=dict)
    """Environment for the CI and judge commands on the host."""


def problems(task_dir: Path) -> list[str]:
    """What is wrong with `task_dir`'s `packages/` (nothing when it has none), path first."""
    root = task_dir / PACKAGES
    if not root.exists():
        return []
    entries = sorted(root.iterdir()) if root.is_dir() else []
    if not entries:
        return [f"{root}: must be a directory of <name>-<version>/ folders, one per package"]
    found = []
    for entry in entries:
        if not entry.is_dir() or not PACKAGE_DIR.fullmatch(entry.name):
            found.append(f"{entry}: a package is a folder named <name>-<version> (tally-1.0)")
        elif not any(p.suffix == ".py" for p in entry.rglob("*") if p.is_file()):
            found.append(f"{entry}: holds no .py file for the wheel")
    return found


def build_wheels(task_dir: Path, into: Path) -> list[Path]:
    """One wheel per package of `task_dir` in the directory `into`."""
    wheels = []
    for folder in sorted((task_dir / PACKAGES).iterdir()):
        match = PACKAGE_DIR.fullmatch(folder.name)
        assert match is not None, f"{folder}: load_task checks package folders"
        modules = {
            str(p.relative_to(folder)): p.read_text()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        wheels.append(build_wheel(into, match["name"], match["version"], modules))
    return wheels


@contextmanager
def task_packages(task_dirs: Sequence[Path], wheels: Path) -> Iterator[TaskPackages]:
    """Serve the packages of every task in `task_dirs` (built into `wheels`) while the run
    lasts: one index for the run's one `aios serve`."""
    with_packages = [d for d in task_dirs if (d / PACKAGES).is_dir()]
    if not with_packages:
        yield TaskPackages()
        return
    for task_dir in with_packages:
        build_wheels(task_dir, wheels)
    with PackageIndex(wheels) as index:
        yield TaskPackages(
            serve={
                INDEX_VARIABLE: index.url,
                "AIOS_SANDBOX_ENV_ALLOW": INDEX_VARIABLE,
                "AIOS_EGRESS_ALLOW": index.host_port,
                "AIOS_EGRESS_CEILING": index.host_port,
            },
            commands={INDEX_VARIABLE: index.url},
        )
