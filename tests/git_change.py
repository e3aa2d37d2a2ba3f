"""One commit of every kind of file change in a scratch git repository, for diff tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

APP_BASE = [f"app line {n}" for n in range(1, 41)]
# line 5 replaced, two lines inserted after line 20, line 35 deleted
APP_HEAD = [*APP_BASE[:4], "app line 5 changed", *APP_BASE[5:20], "inserted A", "inserted B"]
APP_HEAD += [*APP_BASE[20:34], *APP_BASE[35:]]


def lines(items: list[str]) -> str:
    return "\n".join(items) + "\n"


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with no user or system configuration, a fixed identity and locale."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "LC_ALL": "C",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, timeout=30, check=True
    )
    return done.stdout.decode("utf-8")


def write(repo: Path, files: Mapping[str, bytes | str]) -> None:
    for name, content in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)


def commit_change(
    path: Path,
    base: Mapping[str, bytes | str],
    head: Mapping[str, bytes | str],
    *,
    removed: Iterable[str],
    executable: Iterable[str] = (),
) -> None:
    """A repository at `path` whose HEAD commit turns `base` into `head` minus `removed`."""
    git(path, "init", "-q", "-b", "main")
    write(path, base)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    git(path, "rm", "-q", "--", *removed)
    write(path, head)
    for name in executable:
        (path / name).chmod(0o755)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "change")
