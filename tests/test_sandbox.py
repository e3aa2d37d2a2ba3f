"""The `run` sandbox, for real: bubblewrap namespaces, no secret, git read-only, limits, cleanup.

The tests that matter most run twice through `tests/sandbox_probe.py`: as AIOS's own uid
(root here and in CI) and as an unprivileged user, as the Docker image runs AIOS, where
the sandbox's processes have AIOS's host uid and only the namespaces keep them apart.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.agents.bwrap import INSTALL_HINT, Isolation, self_test
from bot.agents.sandbox import Sandbox, SandboxError, SandboxLimits, detect_isolation
from bot.agents.tools import Toolbox, ToolError
from tests.sandbox_probe import in_namespace

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-sandbox-test-0123456789abcdef",
    "OPENAI_API_KEY": "sk-sandbox-test-0123456789abcdefghij",
    "GITHUB_TOKEN": "ghs_sandboxTEST0123456789abcdefghijklmn",
    "REDIS_URL": "redis://:hunter2-redis@127.0.0.1:6390/0",
    "PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----sandboxkey-----END RSA PRIVATE KEY-----",
    "WEBHOOK_SECRET": "whsec-sandbox-0123456789",
}
ARGV_CANARY = "argv-canary-5f1d0c"


@pytest.fixture(scope="module")
def isolation() -> Isolation:
    found = detect_isolation()
    assert found.available, f"the sandbox must work where the tests run: {found.problem}"
    return found


@pytest.fixture
def workspace() -> Iterator[Path]:
    """A work tree laid out as AIOS lays it out: `<root>/repo`, its git directory `<root>/git`."""
    # Not under pytest's 0700 tmp tree: the sandbox's host uid must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="aios-sandbox-test-"))
    root.chmod(0o711)
    repo = root / "repo"
    separate = f"--separate-git-dir={root / 'git'}"
    subprocess.run(["git", "init", "-q", separate, str(repo)], check=True)
    (repo / "README.md").write_text("hello\n")
    yield repo
    shutil.rmtree(root, ignore_errors=True)


def sandbox(workspace: Path, isolation: Isolation, **limits: float) -> Sandbox:
    return Sandbox(
        workspace,
        git_dir=workspace.parent / "git",
        isolation=isolation,
        limits=SandboxLimits(**limits),  # type: ignore[arg-type]
    )


# -- running the probe as AIOS's uid and as an unprivileged user -----------------------


@pytest.fixture(scope="module")
def unprivileged_user() -> Iterator[str | None]:
    """A throwaway system user when the tests run as root; None when they already do not."""
    if os.geteuid() != 0:
        yield None
        return
    name = f"aios-sbx-{secrets.token_hex(3)}"
    shell = "/usr/sbin/nologin"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", shell, name],
        check=True,
        capture_output=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def _interpreter_for(user: str) -> str:
    """A Python the user can execute (a virtualenv under /root is out of its reach)."""
    wanted = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (sys.executable, os.path.realpath(sys.executable), "/usr/bin/python3"):
        done = subprocess.run(
            ["runuser", "-u", user, "--", candidate, "-c", "import sys; print(sys.version[:4])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip().startswith(wanted):
            return candidate
    raise AssertionError(f"no Python {wanted} that {user} may run; install python3")


@pytest.fixture(params=["as AIOS's uid", "as an unprivileged user"])
def run_probe(request: pytest.FixtureRequest, unprivileged_user: str | None) -> Any:
    user = unprivileged_user if request.param == "as an unprivileged user" else None
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *(p for p in sys.path if "site-packages" in p)]),
        **SECRETS,
    }
    argv = [sys.executable, "-m", "tests.sandbox_probe"]
    if user is not None:
        argv = ["runuser", "-u", user, "--", _interpreter_for(user), "-m", "tests.sandbox_probe"]

    def probe(commands: list[str], **options: Any) -> dict[str, Any]:
        body = {"commands": commands, "canary_env": SECRETS, "canary_argv": ARGV_CANARY}
        done = subprocess.run(
            argv,
            input=json.dumps({**body, **options}),
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        assert (report["uid"] != 0) == (user is not None or os.geteuid() != 0)
        return report

    return probe


def test_no_secret_of_aios_or_a_worker_is_visible_inside(run_probe: Any) -> None:
    report = run_probe(
        [
            "env; echo ---; tr '\\0' '\\n' < /proc/self/environ; echo ---; "
            "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done; "
            "cat /proc/{worker_pid}/environ /proc/{my_pid}/environ /proc/{my_pid}/cmdline; "
            "echo ---; ls /proc"
        ],
        env_allow=["ANTHROPIC_API_KEY", "REDIS_URL"],
    )
    assert report["worker_environ_readable_here"], "the canaries are visible outside the sandbox"
    output = report["results"][0]["output"]
    for name, value in SECRETS.items():
        assert value not in output
        assert f"{name}=" not in output
    assert ARGV_CANARY not in output
    # env, /proc/self/environ and /proc/*/environ were read
    assert output.count("AIOS_SANDBOX=isolated") >= 3
    assert report["results"][0]["survivors"] == []


PLANTS = {
    "hook": "printf '#!/bin/sh\\ntouch {canary}\\n' > {git_dir}/hooks/post-commit "
    "&& chmod +x {git_dir}/hooks/post-commit && echo PLANTED",
    "filter": "echo '* filter=x' > .gitattributes; "
    "git config filter.x.clean 'touch {canary}; cat' && echo PLANTED",
    "smudge": "git config filter.x.smudge 'touch {canary}; cat' && echo PLANTED",
    "fsmonitor": "git config core.fsmonitor 'touch {canary}' && echo PLANTED",
    "include.path": "printf '[core]\\n\\tfsmonitor = touch {canary}\\n' > inc.cfg; "
    'git config include.path "$PWD/inc.cfg" && echo PLANTED',
    "core.pager": "git config core.pager 'touch {canary}; cat' && echo PLANTED",
    "diff.external": "git config diff.external 'touch {canary}' && echo PLANTED",
    "config appended": "printf '[core]\\n\\tfsmonitor = touch {canary}\\n' >> {git_dir}/config "
    "&& echo PLANTED",
    "gitdir redirected": "echo 'gitdir: /tmp' > .git && echo PLANTED; "
    "mv .git moved && echo PLANTED",
}


def test_nothing_planted_in_the_git_directory_from_inside_takes(run_probe: Any) -> None:
    report = run_probe(
        [
            "echo x > new.txt; git status --short; git log --oneline -1",
            *PLANTS.values(),
        ]
    )
    status, *plants = report["results"]
    assert "?? new.txt" in status["output"] and "initial" in status["output"]
    for name, result in zip(PLANTS, plants, strict=True):
        assert "PLANTED" not in result["output"], f"{name}: {result['output']}"
        # Read-only everywhere; as root the git directory is also another uid's (Permission
        # denied comes first); the unprivileged run is the one where only the bind holds.
        refusals = ("Read-only file system", "busy", "Permission denied")
        assert any(r in result["output"] for r in refusals), f"{name}: {result['output']}"
    assert report["git_dir_unchanged"]
    assert len(report["commit"]) == 40, report["commit"]  # AIOS still commits, diffs and pushes
    assert not report["canary_exists"]


def test_every_process_is_gone_after_a_timeout(run_probe: Any) -> None:
    report = run_probe(
        ["sleep 300 & setsid sleep 301 & (trap '' TERM INT; while :; do :; done)"],
        limits={"timeout_s": 1.0},
    )
    result = report["results"][0]
    assert result["timed_out"] and result["pid_namespace"]
    assert result["survivors"] == []


# -- in-process, as AIOS's own uid --------------------------------------------------------


async def test_the_network_is_cut_even_to_loopback(workspace: Path, isolation: Isolation) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    box = sandbox(workspace, isolation, timeout_s=20.0)
    result = await box.run(
        'python3 -c "import socket\ntry:\n'
        f"    socket.create_connection(('127.0.0.1', {port}), 3)\n"
        "    print('CONNECTED')\nexcept OSError as e:\n    print('refused', e)\"; "
        "cat /proc/net/dev"
    )
    box.close()
    listener.close()
    assert "CONNECTED" not in result.output and "refused" in result.output
    assert "eth" not in result.output and "lo:" in result.output


async def test_nothing_outside_the_work_tree_can_be_written(
    workspace: Path, isolation: Isolation
) -> None:
    token = secrets.token_hex(4)
    targets = [
        workspace.parent / f"escaped-{token}",
        workspace.parent / "git" / f"escaped-{token}",
        Path(tempfile.gettempdir()) / f"aios-escaped-{token}",
        Path(f"/usr/aios-escaped-{token}"),
        Path(f"/etc/aios-escaped-{token}"),
    ]
    box = sandbox(workspace, isolation)
    writes = "; ".join(f"touch {t}" for t in targets)
    result = await box.run(f"{writes}; touch inside.txt $HOME/home.txt; echo done")
    assert "done" in result.output
    assert (workspace / "inside.txt").is_file() and (box.home / "home.txt").is_file()
    box.close()
    for target in targets:
        assert not target.exists(), target


async def test_background_processes_die_with_the_command(
    workspace: Path, isolation: Isolation
) -> None:
    box = sandbox(workspace, isolation, timeout_s=30.0)
    started = time.monotonic()
    result = await box.run("sleep 313 & setsid sleep 314 & echo started")
    box.close()
    assert result.output.strip() == "started" and result.exit_code == 0
    assert time.monotonic() - started < 10
    assert in_namespace(result.pid_namespace) == []


async def test_an_endless_loop_is_killed_at_the_timeout(
    workspace: Path, isolation: Isolation
) -> None:
    box = sandbox(workspace, isolation, timeout_s=1.0)
    result = await box.run("while :; do :; done")
    box.close()
    assert result.timed_out and result.duration_s < 10
    assert "exceeded the 1 s time limit" in result.for_model()
    assert in_namespace(result.pid_namespace) == []


async def test_a_fork_bomb_is_contained(workspace: Path, isolation: Isolation) -> None:
    box = sandbox(workspace, isolation, timeout_s=3.0, max_processes=24)
    counted = await box.run(
        'python3 -c "import os, time\nn = 0\nfor _ in range(200):\n'
        "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
        "    n += 1\nprint('forked', n)\""
    )
    forked = int(counted.output.split("forked ")[1].split()[0])
    assert 0 < forked < 24
    assert in_namespace(counted.pid_namespace) == []
    bomb = await box.run("bomb() { bomb | bomb & }; bomb; wait")
    box.close()
    assert bomb.duration_s < 15
    assert in_namespace(bomb.pid_namespace) == []


async def test_a_gigabyte_of_output_is_truncated_with_a_note(
    workspace: Path, isolation: Isolation
) -> None:
    box = sandbox(workspace, isolation, max_output_bytes=16_384)
    result = await box.run("head -c 1000000000 /dev/zero | tr '\\0' a; echo; echo THE-END")
    box.close()
    assert result.total_bytes == 1_000_000_000 + len("\nTHE-END\n")
    assert len(result.output) < 17_000
    assert result.output.startswith("aaaa") and result.output.rstrip().endswith("THE-END")
    assert "[output truncated: 1,000,000,009 bytes in all" in result.for_model()


async def test_memory_and_file_size_limits_bind(workspace: Path, isolation: Isolation) -> None:
    box = sandbox(workspace, isolation, memory_bytes=256 << 20, max_file_bytes=1 << 20)
    memory = await box.run("python3 -c 'x = bytearray(600 * 1024 * 1024); print(len(x))'")
    assert memory.exit_code != 0 and "MemoryError" in memory.output
    big = await box.run("head -c 3000000 /dev/zero > big.bin; echo rc=$?")
    box.close()
    assert (workspace / "big.bin").stat().st_size <= 1 << 20
    assert "rc=0" not in big.output


async def test_symlinks_made_in_the_sandbox_do_not_let_tools_escape(
    workspace: Path, isolation: Isolation
) -> None:
    box = sandbox(workspace, isolation)
    tools = Toolbox(workspace, sandbox=box, git_dir=box.git_dir)
    await tools.call("run", {"command": "ln -s /etc/passwd leak && ln -s / root-link && echo ok"})
    for path in ("leak", "root-link/etc/passwd", "../repo/../../etc/passwd"):
        with pytest.raises(ToolError, match="outside the repository"):
            await tools.call("read_file", {"path": path})
        with pytest.raises(ToolError, match="outside the repository"):
            await tools.call("write_file", {"path": path, "content": "x"})
    box.close()
    assert "root:" in Path("/etc/passwd").read_text()


# -- refusing rather than running unconfined ------------------------------------------------


async def test_without_bubblewrap_the_run_tool_refuses_and_names_the_fix(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    missing = detect_isolation()
    assert not missing.available and INSTALL_HINT in missing.problem
    box = Sandbox(workspace, isolation=missing)
    tools = Toolbox(workspace, sandbox=box)
    with pytest.raises(ToolError, match="install bubblewrap") as refused:
        await tools.call("run", {"command": f"touch {workspace}/ran"})
    assert "refuses to run commands outside its sandbox" in str(refused.value)
    with pytest.raises(SandboxError):
        await box.run("true")
    box.close()
    assert not (workspace / "ran").exists()
    assert "UNAVAILABLE" in missing.describe()


def test_a_bwrap_that_cannot_build_namespaces_fails_the_self_test(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    problem = self_test(Isolation(str(fake)))
    assert "No permissions to create new namespace" in problem
    assert "user namespaces" in problem
    fake.write_text("#!/bin/sh\necho 'bwrap: Unknown option --disable-userns' >&2\nexit 1\n")
    assert "install bubblewrap 0.8 or newer" in self_test(Isolation(str(fake)))


def test_every_test_the_docs_cite_for_a_guarantee_exists() -> None:
    """docs/agent-runtime.md pairs each sandbox and git guarantee with a test: keep them true."""
    docs = (ROOT / "docs" / "agent-runtime.md").read_text()
    cited = set(re.findall(r"`(test_[a-z0-9_]+)`", docs))
    defined = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^(?:async )?def (test_[a-z0-9_]+)", path.read_text(), re.M))
    assert len(cited) >= 15
    assert cited <= defined, f"cited but not defined: {sorted(cited - defined)}"
