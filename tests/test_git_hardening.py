"""AIOS's own git obeys nothing a command could have written: config, hooks, filters, fsmonitor.

Each planted program would create a canary file; none may. The programs are planted
straight into the git directory by the test process (as if the git directory had been
written some way other than through the sandbox, which binds it read-only:
tests/test_sandbox.py shows planting from inside fails).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.github.git import DIFF_HARDENING, base_env, run_git
from bot.github.push_guard import PushPolicy
from bot.github.workspace import Workspace, WorkspaceError
from tests.test_workspace import TOKEN, seed_remote


@pytest.fixture
def remote(tmp_path: Path) -> str:
    return seed_remote(tmp_path / "remotes")


@pytest.fixture
async def workspace(remote: str) -> Iterator[Workspace]:
    ws = await Workspace.clone("acme/widgets", git_base_url=remote, token=TOKEN)
    await ws.start_branch(7, "Hardening")
    yield ws
    ws.cleanup()


def touch(canary: Path) -> str:
    return f"touch {canary}; cat"


CONFIG_PLANTS = {
    "filter clean": lambda c: f'[filter "x"]\n\tclean = {touch(c)}\n',
    "filter smudge": lambda c: f'[filter "x"]\n\tsmudge = {touch(c)}\n\tclean = cat\n',
    "fsmonitor": lambda c: f"[core]\n\tfsmonitor = {touch(c)}\n",
    "include.path": lambda c: f"[include]\n\tpath = {c.parent / 'repo' / 'inc.cfg'}\n",
    "core.pager": lambda c: f"[core]\n\tpager = {touch(c)}\n",
    "diff.external": lambda c: f"[diff]\n\texternal = {touch(c)}\n",
    "textconv": lambda c: f'[diff "x"]\n\ttextconv = {touch(c)}\n',
    "gpg": lambda c: f"[commit]\n\tgpgSign = true\n[gpg]\n\tprogram = {touch(c)}\n",
}


async def every_operation(ws: Workspace) -> list[str]:
    """add/commit, diff, push and a branch checkout; what each one raised, if anything."""
    (ws.path / "app.py").write_text("print('changed')\n")
    (ws.path / "notes.txt").write_text("notes\n")
    raised = []
    for operation in (
        lambda: ws.commit("change", agent="a"),
        lambda: ws.diff_from("main"),
        lambda: ws.push(policy=PushPolicy()),
        ws.changed_files,
        lambda: ws.start_branch(8, "Another"),
    ):
        try:
            await operation()
        except WorkspaceError as exc:
            raised.append(str(exc))
    return raised


@pytest.mark.parametrize("plant", sorted(CONFIG_PLANTS))
async def test_a_changed_git_config_is_refused_before_git_runs(
    workspace: Workspace, plant: str
) -> None:
    canary = workspace.root / "canary"
    (workspace.path / ".gitattributes").write_text("* filter=x diff=x\n")
    (workspace.path / "inc.cfg").write_text(f"[core]\n\tfsmonitor = {touch(canary)}\n")
    with (workspace.git_dir / "config").open("a") as config:
        config.write(CONFIG_PLANTS[plant](canary))
    raised = await every_operation(workspace)
    assert not canary.exists(), f"{plant} ran"
    assert len(raised) == 5 and all("refusing to run git" in r for r in raised), raised
    assert "changed since AIOS's last git call" in raised[0]


HOOKS = (
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-push",
    "post-checkout",
    "reference-transaction",
    "post-index-change",
    "pre-auto-gc",
    "post-rewrite",
    "fsmonitor-watchman",
)


async def test_hooks_in_the_git_directory_never_run(workspace: Workspace) -> None:
    canary = workspace.root / "canary"
    for hook in HOOKS:
        path = workspace.git_dir / "hooks" / hook
        path.write_text(f"#!/bin/sh\necho {hook} >> {canary}\n")
        path.chmod(0o755)
    assert await every_operation(workspace) == []
    assert not canary.exists(), canary.read_text()


async def test_a_rewritten_gitdir_file_does_not_redirect_aios(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The work tree's `.git` file is the sandbox's to rewrite; AIOS never reads it."""
    canary = workspace.root / "canary"
    evil = tmp_path / "evil.git"
    subprocess.run(["git", "init", "-q", "--bare", str(evil)], check=True)
    (evil / "config").write_text(
        f"[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = {touch(canary)}\n"
    )
    (workspace.path / ".git").write_text(f"gitdir: {evil}\n")
    assert await every_operation(workspace) == []
    assert not canary.exists()
    assert await workspace.head() != ""


async def test_the_hardening_alone_runs_no_planted_program(tmp_path: Path) -> None:
    """Without the config check (a plain repository), the -c hardening and the diff flags
    still keep fsmonitor, external diffs, textconv and signing programs from running."""
    canary = tmp_path / "canary"
    program = tmp_path / "planted"  # some are run through a shell, gpg.program is not
    program.write_text(f'#!/bin/sh\necho "$0 $*" >> {canary}\ncat\n')
    program.chmod(0o755)
    repo = tmp_path / "plain"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git_dir = repo / ".git"
    (repo / ".gitattributes").write_text("* diff=x\n")
    (repo / "a.txt").write_text("one\n")
    with (git_dir / "config").open("a") as config:
        config.write(
            f"[core]\n\tfsmonitor = {program}\n"
            f"[diff]\n\texternal = {program}\n"
            f'[diff "x"]\n\ttextconv = {program}\n'
            f"[commit]\n\tgpgSign = true\n[gpg]\n\tprogram = {program}\n"
            "[user]\n\tname = t\n\temail = t@example.com\n"
        )
    env = base_env(tmp_path)

    async def git(*args: str) -> str:
        result = await run_git(args, cwd=repo, env=env, git_dir=git_dir, work_tree=repo)
        return result.stdout

    await git("add", "-A")
    await git("commit", "-q", "-m", "one")
    (repo / "a.txt").write_text("two\n")
    await git("status", "--porcelain")
    assert "+two" in await git("diff", *DIFF_HARDENING)
    await git("add", "-A")
    await git("commit", "-q", "-m", "two")
    assert "+two" in await git("log", "-p", *DIFF_HARDENING, "-1")
    assert not canary.exists()
    assert os.environ.get("GIT_EXTERNAL_DIFF") is None
