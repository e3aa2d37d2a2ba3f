"""Nothing leaves without the push guard: secrets and protected paths refused before any push."""

from __future__ import annotations

import secrets
import string
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from bot.github.client import GitHubClient
from bot.github.push_guard import PushPolicy, PushRefused, added_lines
from bot.github.workspace import Workspace
from bot.redact import MASK
from bot.testbed.github import FakeGitHub
from tests.test_secret_rules import JWT
from tests.test_workspace import git, seed_remote

AWS_KEY = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
GH_TOKEN = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))


@pytest.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    remote = seed_remote(tmp_path / "remotes", files={"README.md": "# w\n", "app.py": "x = 1\n"})
    ws = await Workspace.clone("acme/widgets", git_base_url=remote)
    await ws.start_branch(5, "Settings")
    yield ws
    ws.cleanup()


def remote_branches(tmp_path: Path) -> str:
    return git("branch", "--list", cwd=tmp_path / "remotes" / "acme" / "widgets.git")


def write(ws: Workspace, path: str, text: str | bytes) -> None:
    target = ws.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)


async def test_a_secret_written_into_a_file_is_refused_naming_file_and_rule(
    workspace: Workspace, tmp_path: Path
) -> None:
    write(workspace, "config/settings.py", f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\n')
    await workspace.commit("Settings", agent="🛠️ Bea (Backend)")
    with pytest.raises(PushRefused) as refused:
        await workspace.push(policy=PushPolicy())
    message = str(refused.value)
    assert "`config/settings.py`" in message and "`aws-access-token`" in message
    assert AWS_KEY not in message and AWS_KEY[4:12] not in message
    assert "aios/5-settings" not in remote_branches(tmp_path)  # nothing reached the remote


async def test_a_secret_removed_in_a_later_commit_is_still_in_the_history_and_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    write(workspace, "deploy.sh", f"export GITHUB_TOKEN={GH_TOKEN}\n")
    await workspace.commit("Deploy script", agent="🚢 Dex (DevOps)")
    write(workspace, "deploy.sh", 'export GITHUB_TOKEN="$TOKEN"\n')
    await workspace.commit("Read the token from the environment", agent="🚢 Dex (DevOps)")
    with pytest.raises(PushRefused, match=r"`deploy.sh` holds a secret \(rule `github-pat`"):
        await workspace.push(policy=PushPolicy())
    assert "aios/5-settings" not in remote_branches(tmp_path)


async def test_a_workflow_file_is_refused_unless_the_repository_allows_workflow_edits(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Written straight to disk, as an agent's `run` command would: the write tools never saw it.
    write(workspace, ".github/workflows/pwn.yml", "on: pull_request_target\n")
    await workspace.commit("CI", agent="🚢 Dex (DevOps)")
    with pytest.raises(PushRefused) as refused:
        await workspace.push(policy=PushPolicy())
    message = str(refused.value)
    assert "`.github/workflows/pwn.yml` is a workflow" in message
    assert "`workflow.allow_workflow_edits: true`" in message
    assert "aios/5-settings" not in remote_branches(tmp_path)
    await workspace.push(policy=PushPolicy(allow_workflow_edits=True))
    assert "aios/5-settings" in remote_branches(tmp_path)


@pytest.mark.parametrize("path", ["CODEOWNERS", ".github/CODEOWNERS", ".github/aios.yml"])
async def test_protected_paths_are_refused_naming_the_setting(
    workspace: Workspace, path: str
) -> None:
    write(workspace, path, "* @mallory\n")
    await workspace.commit("Owners", agent="🚢 Dex (DevOps)")
    with pytest.raises(
        PushRefused, match=rf"`{path}` is protected \(listed in `workflow.protected"
    ):
        await workspace.push(policy=PushPolicy())
    await workspace.push(policy=PushPolicy(protected_paths=()))  # the repository lifted it


async def test_deleting_a_workflow_is_a_workflow_change_too(tmp_path: Path) -> None:
    remote = seed_remote(tmp_path / "remotes", files={".github/workflows/ci.yml": "on: push\n"})
    async with await Workspace.clone("acme/widgets", git_base_url=remote) as ws:
        await ws.start_branch(6, "Drop CI")
        (ws.path / ".github/workflows/ci.yml").unlink()
        await ws.commit("Drop CI", agent="🚢 Dex (DevOps)")
        with pytest.raises(PushRefused, match=r"ci\.yml` is a workflow"):
            await ws.push(policy=PushPolicy())


async def test_a_key_store_is_refused_by_its_name_and_plain_changes_pass(
    workspace: Workspace, tmp_path: Path
) -> None:
    write(workspace, "certs/client.p12", b"\x30\x82\x01\x00binary")
    await workspace.commit("Client cert", agent="🚢 Dex (DevOps)")
    with pytest.raises(PushRefused, match=r"client.p12` holds a secret \(rule `pkcs12-file`"):
        await workspace.push(policy=PushPolicy())
    git("rm", "-q", "--cached", "certs/client.p12", cwd=workspace.path)
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--amend", "-m", "x",
        "--allow-empty", cwd=workspace.path)  # fmt: skip
    write(workspace, "app.py", "x = 2  # api_key comes from the environment\n")
    (workspace.path / "certs" / "client.p12").unlink()
    await workspace.commit("Bump x", agent="🛠️ Bea (Backend)")
    await workspace.push(policy=PushPolicy())
    assert "aios/5-settings" in remote_branches(tmp_path)


async def test_only_commits_the_remote_lacks_are_scanned(workspace: Workspace) -> None:
    write(workspace, "app.py", "x = 3\n")
    await workspace.commit("x", agent="🛠️ Bea (Backend)")
    await workspace.push(policy=PushPolicy())
    patch, messages, paths = await workspace._outgoing()
    assert (patch.strip(), messages.strip(), paths) == ("", "", ["app.py"])  # the base diff


def test_added_lines_are_read_per_file_from_a_patch() -> None:
    patch = (
        "commit 1111\n\ndiff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1,2 @@\n"
        "-old\n+new\n+more\n diff\ndiff --git a/b.txt b/b.txt\n--- /dev/null\n"
        '+++ "b/caf\\303\\251.txt"\n@@ -0,0 +1 @@\n+hello\n'
    )
    assert list(added_lines(patch)) == [("a.py", "new\nmore"), ("café.txt", "hello")]


async def test_every_text_aios_sends_github_is_redacted_on_the_way_out(
    github_fake: FakeGitHub,
) -> None:
    issue = github_fake.add_issue("octo-org/hello", "Login")
    token = github_fake.issue_token(1)
    async with httpx2.AsyncClient() as http:
        gh = GitHubClient(http, base_url=github_fake.url)
        await gh.post(
            "/repos/octo-org/hello/issues/1/comments",
            data={"body": f"The session token was {JWT}; key {AWS_KEY}."},
            oauth_token=token,
        )
    (comment,) = github_fake.comments("octo-org/hello", issue.number)
    assert JWT not in comment.body and AWS_KEY not in comment.body
    assert comment.body == f"The session token was {MASK}; key {MASK}."
