"""Turn a repository's history (`bot.evals.history`) into eval task directories.

For each fixed issue: `repo/` is the tree at the fixing PR's parent commit (first parent of
its merge commit), `hidden/` the test files the PR added or changed as they were merged, and
`task.yml` the issue with the repository's own test command as CI and judge.
"""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from bot.config.parse import parse_repo_config
from bot.config.schema import CONFIG_PATH
from bot.environment.detect import detect, read_inside
from bot.evals.history import Fix, History
from bot.github.git import auth_env, base_env, git_argv
from bot.redact import redact

GIT_TIMEOUT_S = 600.0
"""A first fetch of a large repository over the network takes minutes."""
LABELS = ["aios"]
"""A replayed issue goes to the CTO, as a maintainer's `aios` label would send it."""


class ReplayError(RuntimeError):
    """Fetching or reading the repository's git history failed (the message is redacted)."""


@dataclass(frozen=True)
class Built:
    fix: Fix
    name: str
    """The task directory's name under the tasks directory."""
    left_out: int = 0
    """Files of the parent commit left out of `repo/`: binary, symlinks, submodules."""


@dataclass(frozen=True)
class Skipped:
    fix: Fix
    reason: str


def task_name(repo: str, issue: int) -> str:
    """`owner/My.Lib` issue 12 -> `my-lib-12` (a valid task directory name)."""
    stem = re.sub(r"[^a-z0-9]+", "-", repo.split("/", 1)[1].lower()).strip("-") or "repo"
    return f"{stem[:50]}-{issue}"


def fetch(history: History, into: Path) -> Path:
    """A bare repository at `into` holding every fix's merge commit and its parents.

    The token travels in an `http.extraheader` set through the environment (as the
    workers' git does), never in the URL, a command line or the repository's config.

    Raises:
        ReplayError: git failed (its message with the token redacted).
    """
    _git(["init", "-q", "--bare", str(into)], None, history)
    shas = sorted({fix.merge_commit_sha for fix in history.fixes})
    if shas:
        fetch_args = ["fetch", "-q", "--no-tags", "--depth=2", "--", history.clone_url, *shas]
        _git(fetch_args, into, history)
    return into


def build(history: History, fix: Fix, bare: Path, tasks_dir: Path) -> Built | Skipped:
    """Write the task directory of `fix` under `tasks_dir`, or say why it cannot be a task."""
    if not fix.tests:
        return Skipped(fix, f"#{fix.pull} added or changed no test files: nothing to judge with")
    path = tasks_dir / task_name(history.repo, fix.issue)
    parent = _git(["rev-parse", "--verify", f"{fix.merge_commit_sha}^1^{{commit}}"], bare, history)
    left_out = _export(bare, parent.strip(), path / "repo", history)
    command = project_test_command(path / "repo")
    if command is None:
        return Skipped(fix, f"no test command: set environment.test in {CONFIG_PATH}")
    hidden = 0
    for test in fix.tests:
        data = _git_bytes(["cat-file", "blob", f"{fix.merge_commit_sha}:{test}"], bare, history)
        hidden += _write(path / "hidden", test, data)
    if not hidden:
        return Skipped(fix, f"#{fix.pull}'s test files are not text: nothing to judge with")
    spec = {
        "title": fix.title,
        "body": fix.body,
        "labels": LABELS,
        "ci": command,
        "judge": command,
        "source": f"{history.repo}#{fix.issue}, fixed by #{fix.pull} ({fix.merge_commit_sha})",
    }
    (path / "task.yml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return Built(fix, path.name, left_out)


def project_test_command(tree: Path) -> str | None:
    """The repository's test command, with its setup first: `environment` of its
    `.github/aios.yml` where set, else what AIOS detects from its files."""
    environment = parse_repo_config(read_inside(tree, CONFIG_PATH)).config.environment
    detected = detect(tree)
    test = environment.test or (detected.test if detected else None)
    if not test:
        return None
    setup = environment.setup if environment.setup is not None else ()
    if environment.setup is None and detected is not None:
        setup = detected.setup
    if not setup:
        return test
    # The judge's checkout is fresh: the setup runs there before the tests, as in a workspace.
    return shlex.join(["sh", "-c", " && ".join([*setup, test])])


def _export(bare: Path, commit: str, into: Path, history: History) -> int:
    """Write the text files of `commit` under `into`; the number of entries left out."""
    archive = _git_bytes(["archive", "--format=tar", commit], bare, history)
    left_out = 0
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            if member.isdir() or member.type == tarfile.XGLTYPE:
                continue
            handle = tar.extractfile(member) if member.isfile() else None
            written = handle is not None and _write(into, member.name, handle.read())
            left_out += 0 if written else 1
    return left_out


def _write(root: Path, relative: str, data: bytes) -> bool:
    """Write `data` at `root/relative` when it is text and the path stays inside `root`."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
        return False
    try:
        data.decode()  # the local GitHub takes a project's files as text
    except UnicodeDecodeError:
        return False
    target = root.joinpath(*parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return True


def _git(args: list[str], git_dir: Path | None, history: History) -> str:
    return _git_bytes(args, git_dir, history).decode(errors="replace")


def _git_bytes(args: list[str], git_dir: Path | None, history: History) -> bytes:
    env = base_env(git_dir or Path("/"))
    if history.clone_url.startswith(("http://", "https://")):
        host = re.match(r"https?://[^/]+", history.clone_url)
        assert host is not None
        env.update(auth_env(host.group(0), history.token))
    try:
        done = subprocess.run(
            git_argv(args, git_dir=git_dir, work_tree=None),
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise ReplayError(f"git {args[0]} gave no answer within {GIT_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        said = redact(done.stderr.decode(errors="replace"), (history.token,)).strip()
        raise ReplayError(f"git {args[0]} failed (exit {done.returncode}): {said[-1000:]}")
    return done.stdout
