"""Fail closed: where bubblewrap cannot isolate, commands are refused with the fix; the operator's
AIOS_SANDBOX=unisolated runs them limited and warned about in every progress comment.

"No isolation" is real here: a `bwrap` first on PATH that fails the way a kernel without
unprivileged user namespaces makes it fail, found by the real `detect_isolation()`.
"""

from __future__ import annotations

import io
import os
import select
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest

from bot.agents.bwrap import HOST_UID_RANGE, Isolation, isolation_here
from bot.agents.config import AgentConfig
from bot.agents.fail_closed import (
    OPT_IN,
    UNISOLATED_WARNING,
    Deployment,
    detect_deployment,
    refusal,
)
from bot.agents.sandbox import Sandbox, SandboxError, SandboxLimits, detect_isolation
from bot.agents.tools import Toolbox, ToolError
from bot.app.doctor import run_doctor
from bot.app.doctor.findings import Probe
from bot.app.doctor.host import check_sandbox
from bot.effects.progress import operator_warnings, publish_progress
from bot.github.client import GitHubClient
from bot.render.progress import render_check_run, render_progress
from bot.render.progress_view import progress_view
from bot.settings import Settings, SettingsError
from bot.testbed.github import FakeGitHub
from bot.workitem.item import WorkItem

NO_NAMESPACES = "bwrap: No permissions to create new namespace"
SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-failclosed-0123456789abcdef",
    "WEBHOOK_SECRET": "whsec-failclosed-0123456789",
    "GITHUB_TOKEN": "ghs_failclosedTEST0123456789abcdefghij",
}
REPO = "octo-org/hello"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def no_isolation(monkeypatch: pytest.MonkeyPatch) -> Iterator[Isolation]:
    """A machine whose bwrap cannot build namespaces; everything else (setpriv, prlimit) real."""
    # Not under pytest's 0700 tmp tree: as root, the self-test runs bwrap as a drawn uid.
    fake_bin = Path(tempfile.mkdtemp(prefix="aios-no-userns-"))
    fake_bin.chmod(0o755)
    bwrap = fake_bin / "bwrap"
    bwrap.write_text(f"#!/bin/sh\necho '{NO_NAMESPACES}' >&2\nexit 1\n")
    bwrap.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    isolation_here.cache_clear()
    found = detect_isolation()
    assert not found.available and NO_NAMESPACES in found.problem
    yield found
    isolation_here.cache_clear()
    shutil.rmtree(fake_bin, ignore_errors=True)


@pytest.fixture
def workspace() -> Iterator[Path]:
    """`<root>/repo` with its git directory `<root>/git`, reachable by a drawn uid."""
    root = Path(tempfile.mkdtemp(prefix="aios-failclosed-"))
    root.chmod(0o711)
    repo = root / "repo"
    subprocess.run(
        ["git", "init", "-q", f"--separate-git-dir={root / 'git'}", str(repo)], check=True
    )
    yield repo
    shutil.rmtree(root, ignore_errors=True)


def unisolated(workspace: Path, isolation: Isolation, **limits: float) -> Sandbox:
    return Sandbox(
        workspace,
        git_dir=workspace.parent / "git",
        isolation=isolation,
        limits=SandboxLimits(**limits),  # type: ignore[arg-type]
        environ={**SECRETS, "PATH": os.environ["PATH"]},
        env_allow=["ANTHROPIC_API_KEY"],  # asked for, and still refused: it looks secret
        mode="unisolated",
    )


def writers_gone(fifo_read_end: int) -> bool:
    """EOF on the FIFO: every process that held its write end has exited (the kernel closes
    a process's files as it dies). The bound only keeps a failing test from hanging."""
    readable, _, _ = select.select([fifo_read_end], [], [], 60)
    return bool(readable) and os.read(fifo_read_end, 1) == b""


# -- refusing, with the fix for where AIOS runs ------------------------------------------


async def test_without_isolation_run_and_the_run_tool_refuse_with_the_fix_and_the_opt_in(
    workspace: Path, no_isolation: Isolation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLY_MACHINE_ID", "e2865013")  # where AIOS runs, as Fly.io says it
    box = Sandbox(workspace, isolation=no_isolation)
    assert not box.unisolated
    with pytest.raises(SandboxError) as refused:
        await box.run(f"touch {workspace}/ran")
    message = str(refused.value)
    assert NO_NAMESPACES in message
    assert "refuses to run commands outside its sandbox" in message
    assert "AIOS runs in a Fly.io machine" in message and "fly deploy" in message
    assert message.endswith(OPT_IN)
    assert "AIOS_SANDBOX=unisolated" in message and "not recommended" in message

    tools = Toolbox(workspace, sandbox=box)
    with pytest.raises(ToolError) as answered:  # what the model is told, as a tool error
        await tools.call("run", {"command": f"touch {workspace}/ran"})
    assert str(answered.value) == message
    box.close()
    assert not (workspace / "ran").exists()


@pytest.mark.parametrize(
    ("layout", "environ", "expected"),
    [
        ({}, {"FLY_APP_NAME": "aios"}, Deployment.FLY),
        ({}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, Deployment.KUBERNETES),
        ({".dockerenv": b""}, {}, Deployment.DOCKER),
        ({"run/.containerenv": b""}, {}, Deployment.PODMAN),
        ({"proc/1/environ": b"PATH=/bin\0container=lxc\0"}, {}, Deployment.CONTAINER),
        ({"proc/1/environ": b"PATH=/bin\0"}, {}, Deployment.HOST),
        ({}, {}, Deployment.HOST),
    ],
)
def test_where_aios_runs_is_told_by_the_marks_each_runtime_leaves(
    tmp_path: Path, layout: dict[str, bytes], environ: dict[str, str], expected: Deployment
) -> None:
    for name, content in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    assert detect_deployment(tmp_path, environ) is expected


def test_each_deployment_gets_its_own_fix(no_isolation: Isolation) -> None:
    problem = no_isolation.problem
    docker = refusal(problem, Deployment.DOCKER)
    for option in ("seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"):
        assert f"--security-opt {option}" in docker
    assert "docker-compose.yml's `worker` service" in docker
    assert "procMount: Unmasked" in refusal(problem, Deployment.KUBERNETES)
    assert "unmask=ALL" in refusal(problem, Deployment.PODMAN)
    # On a plain host the problem's own hint is the fix: the sysctl, said once.
    host = refusal(problem, Deployment.HOST)
    assert host.count("sysctl user.max_user_namespaces") == 1
    assert "Or set AIOS_SANDBOX=unisolated to run agent commands without isolation" in host
    # A missing package is fixed by the image, not by security options.
    missing = refusal("bubblewrap is not installed: install bubblewrap", Deployment.DOCKER)
    assert "AIOS's Dockerfile" in missing and "security-opt" not in missing


# -- the operator's opt-in -----------------------------------------------------------------


def test_aios_sandbox_is_isolated_or_unisolated() -> None:
    assert AgentConfig.from_env({}).sandbox_mode == "isolated"
    assert AgentConfig.from_env({"AIOS_SANDBOX": "unisolated"}).sandbox_mode == "unisolated"
    with pytest.raises(SettingsError) as bad:
        AgentConfig.from_env({"AIOS_SANDBOX": "off"})
    assert bad.value.variable == "AIOS_SANDBOX"
    assert "isolated" in bad.value.problem and "unisolated" in bad.value.problem


async def test_unisolated_runs_without_secrets_under_limits_in_the_work_tree(
    workspace: Path, no_isolation: Isolation
) -> None:
    box = unisolated(workspace, no_isolation, memory_bytes=256 << 20, max_processes=64)
    assert box.unisolated and "UNISOLATED" in box.describe()
    result = await box.run(
        "env; echo ---; ulimit -v; awk '/Max processes/ {print $3}' /proc/self/limits; "
        "id -u; pwd; echo $TMPDIR"
    )
    assert result.exit_code == 0, result.output
    environment, _, facts = result.output.partition("---\n")
    for name, value in SECRETS.items():
        assert value not in result.output and f"{name}=" not in environment
    assert "AIOS_SANDBOX=unisolated" in environment
    memory_kb, processes, uid, cwd, tmpdir = facts.split()
    assert (int(memory_kb), int(processes)) == (256 << 10, 64)
    if os.geteuid() == 0:
        assert HOST_UID_RANGE[0] <= int(uid) <= HOST_UID_RANGE[1]  # root was dropped
    else:
        assert int(uid) == os.geteuid()
    assert cwd == str(workspace.resolve())
    assert Path(tmpdir).parent == box.home
    box.close()


async def test_unisolated_kills_the_command_s_process_group_at_the_timeout(
    workspace: Path, no_isolation: Isolation
) -> None:
    box = unisolated(workspace, no_isolation, timeout_s=2)
    os.mkfifo(workspace / "held")
    held = os.open(workspace / "held", os.O_RDONLY | os.O_NONBLOCK)
    try:
        # The shell and a background child both hold the FIFO, and neither ends by itself.
        result = await box.run("exec 3>held; echo opened; sleep 600 & exec sleep 600")
        assert result.timed_out and "opened" in result.output
        assert writers_gone(held), "a process of the command outlived its timeout"
    finally:
        os.close(held)
        box.close()


async def test_unisolated_background_processes_die_with_the_command(
    workspace: Path, no_isolation: Isolation
) -> None:
    box = unisolated(workspace, no_isolation)
    os.mkfifo(workspace / "held")
    held = os.open(workspace / "held", os.O_RDONLY | os.O_NONBLOCK)
    try:
        result = await box.run("exec 3>held; sleep 600 >/dev/null 2>&1 & echo left")
        assert result.exit_code == 0 and not result.timed_out and "left" in result.output
        assert writers_gone(held), "a background process outlived the command"
    finally:
        os.close(held)
        box.close()


async def test_unisolated_refuses_egress_filtering_it_cannot_give(
    workspace: Path, no_isolation: Isolation
) -> None:
    box = unisolated(workspace, no_isolation)
    with pytest.raises(SandboxError, match=r"egress filtering .* needs the sandbox"):
        await box.run(f"touch {workspace}/ran", allow_hosts=["pypi.org"])
    box.close()
    assert not (workspace / "ran").exists()


async def test_where_isolation_works_unisolated_changes_nothing(workspace: Path) -> None:
    box = Sandbox(workspace, git_dir=workspace.parent / "git", mode="unisolated")
    assert box.isolation.available and not box.unisolated
    result = await box.run("echo $AIOS_SANDBOX; grep -c : /proc/net/dev")
    assert result.output.split() == ["isolated", "1"]  # its own network namespace: only lo
    box.close()


# -- the warning in every progress comment -------------------------------------------------


def item(number: int = 1) -> WorkItem:
    return WorkItem(
        repo=REPO, number=number, installation_id=1, created_at=T0, updated_at=T0, title="t"
    )


def test_the_progress_comment_renders_operator_warnings_first() -> None:
    plain = progress_view(item(), now=T0)
    warned = progress_view(item(), now=T0, operator_warnings=(UNISOLATED_WARNING,))
    assert UNISOLATED_WARNING not in render_progress(plain)
    body = render_progress(warned)
    assert f"> [!CAUTION]\n> {UNISOLATED_WARNING}" in body
    assert body.index("[!CAUTION]") < body.index("Team:")
    assert UNISOLATED_WARNING in render_check_run(warned)["summary"]
    assert UNISOLATED_WARNING not in render_check_run(plain)["summary"]


class Token:
    def __init__(self, token: str) -> None:
        self.token = token

    async def authorization(self) -> str:
        return f"token {self.token}"

    async def refused(self, authorization: str) -> None:
        raise AssertionError("the fake refused the installation token")


@pytest.fixture
async def gh(github_fake: FakeGitHub) -> AsyncIterator[GitHubClient]:
    async with httpx2.AsyncClient() as http:
        yield GitHubClient(http, base_url=github_fake.url, auth=Token(github_fake.issue_token()))


async def test_every_published_progress_comment_warns_while_commands_run_unisolated(
    github_fake: FakeGitHub,
    gh: GitHubClient,
    no_isolation: Isolation,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env of the checkout
    number = github_fake.add_issue(REPO, "Add pagination").number
    monkeypatch.setenv("AIOS_SANDBOX", "unisolated")
    comment_id = await publish_progress(gh, item(number))
    [comment] = github_fake.comments(REPO, number)
    assert UNISOLATED_WARNING in comment.body and "[!CAUTION]" in comment.body

    # The operator's default: no warning, and no self-test run to find that out.
    monkeypatch.delenv("AIOS_SANDBOX")
    isolation_here.cache_clear()
    assert await operator_warnings() == ()
    assert isolation_here.cache_info().currsize == 0
    await publish_progress(gh, replace(item(number), progress_comment_id=comment_id))
    [comment] = github_fake.comments(REPO, number)
    assert UNISOLATED_WARNING not in comment.body


# -- aios doctor ---------------------------------------------------------------------------


async def test_doctor_warns_about_the_opt_in_and_refuses_without_it(
    no_isolation: Isolation, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    [refused] = await check_sandbox(Settings(), Probe())
    assert not refused.ok and "will be refused" in refused.what
    assert NO_NAMESPACES in refused.fix and OPT_IN in refused.fix

    monkeypatch.setenv("AIOS_SANDBOX", "unisolated")
    [warned] = await check_sandbox(Settings(), Probe())
    assert warned.ok and warned.warning and warned.mark == "⚠"
    assert "WITHOUT isolation" in warned.what and NO_NAMESPACES in warned.what
    out = io.StringIO()
    assert await run_doctor(Settings(), out, checks=[check_sandbox]) == 0  # a risk, not a fault
    assert out.getvalue().startswith("⚠ the sandbox does not work here")
    assert "fix: isolate them, then unset AIOS_SANDBOX" in out.getvalue()

    monkeypatch.setenv("AIOS_SANDBOX", "sometimes")
    [bad] = await check_sandbox(Settings(), Probe())
    assert not bad.ok and "AIOS_SANDBOX" in bad.what and "isolated or unisolated" in bad.fix
