"""The `run` sandbox, for real: no secrets, limits that bind (as root too), no network, cleanup."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.agents.sandbox import Isolation, Sandbox, SandboxLimits, _pids_of_uid, detect_isolation
from bot.agents.tools import Toolbox, ToolError

SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-sandbox-test-0123456789abcdef",
    "OPENAI_API_KEY": "sk-sandbox-test-0123456789abcdefghij",
    "GITHUB_TOKEN": "ghs_sandboxTEST0123456789abcdefghijklmn",
    "REDIS_URL": "redis://:hunter2-redis@127.0.0.1:6390/0",
    "PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----sandboxkey-----END RSA PRIVATE KEY-----",
    "WEBHOOK_SECRET": "whsec-sandbox-0123456789",
}


@pytest.fixture(scope="module")
def isolation() -> Isolation:
    return detect_isolation()


@pytest.fixture
def workspace() -> Iterator[Path]:
    # Not under pytest's 0700 tmp tree: the sandbox uid must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="aios-sandbox-test-"))
    root.chmod(0o711)
    repo = root / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README.md").write_text("hello\n")
    yield repo
    shutil.rmtree(root, ignore_errors=True)


def sandbox(workspace: Path, isolation: Isolation, **limits: float) -> Sandbox:
    return Sandbox(workspace, isolation=isolation, limits=SandboxLimits(**limits))  # type: ignore[arg-type]


def survivors(box: Sandbox, marker: str) -> list[int]:
    """Processes left over from a sandbox run: by uid when it has one, else by command line."""
    if box.isolation.uid is not None:
        return _pids_of_uid(box.isolation.uid)
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


async def test_environment_and_proc_show_no_secret(
    workspace: Path, isolation: Isolation, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    box = Sandbox(workspace, isolation=isolation, env_allow=("ANTHROPIC_API_KEY", "REDIS_URL"))
    result = await box.run(
        "env; echo ---; tr '\\0' '\\n' < /proc/self/environ; echo ---; "
        f"cat /proc/{os.getpid()}/environ"
    )
    box.close()
    for value in SECRETS.values():
        assert value not in result.output
    for name in SECRETS:
        assert f"{name}=" not in result.output
    assert f"HOME={box.home}" in result.output and "PATH=" in result.output
    assert result.output.count("AIOS_SANDBOX=1") == 2  # env and /proc/self/environ were both read


async def test_an_endless_loop_is_killed_at_the_timeout(
    workspace: Path, isolation: Isolation
) -> None:
    box = sandbox(workspace, isolation, timeout_s=1.0)
    result = await box.run("while :; do :; done")
    box.close()
    assert result.timed_out and result.duration_s < 10
    assert "exceeded the 1 s time limit" in result.for_model()


async def test_background_processes_die_with_the_command(
    workspace: Path, isolation: Isolation
) -> None:
    box = sandbox(workspace, isolation, timeout_s=30.0)
    started = time.monotonic()
    result = await box.run("sleep 313 & setsid sleep 314 & echo started")
    assert result.output.strip() == "started" and result.exit_code == 0
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while survivors(box, "sleep 31[34]") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivors(box, "sleep 31[34]") == []
    box.close()


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
    bomb = await box.run("bomb() { bomb | bomb & }; bomb; wait")
    assert bomb.duration_s < 15
    deadline = time.monotonic() + 5
    while survivors(box, "bomb") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivors(box, "bomb") == []
    box.close()


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


async def test_no_network_when_the_machine_allows_it(workspace: Path, isolation: Isolation) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    box = sandbox(workspace, isolation, timeout_s=20.0)
    result = await box.run(
        'python3 -c "import socket\ntry:\n'
        f"    socket.create_connection(('127.0.0.1', {port}), 3)\n"
        "    print('CONNECTED')\nexcept OSError as e:\n    print('refused', e)\""
    )
    box.close()
    listener.close()
    if isolation.network_cut:
        assert "CONNECTED" not in result.output and "refused" in result.output
    else:
        assert "network is not cut" in isolation.note or "network NOT cut" in isolation.describe()


async def test_git_metadata_is_out_of_the_sandbox_reach(
    workspace: Path, isolation: Isolation
) -> None:
    box = sandbox(workspace, isolation)
    result = await box.run(
        "echo x > new.txt && echo 'made new.txt'; "
        "(echo evil > .git/hooks/pre-commit) 2>/dev/null && echo WROTE-HOOK; "
        "mv .git .git-old 2>/dev/null && echo MOVED-GIT; git status --short"
    )
    box.close()
    assert "made new.txt" in result.output and "?? new.txt" in result.output
    if isolation.uid is not None:
        assert "WROTE-HOOK" not in result.output and "MOVED-GIT" not in result.output
        assert (workspace / ".git" / "HEAD").is_file()
    else:
        assert os.geteuid() != 0  # only an unprivileged worker runs commands under its own uid


async def test_symlinks_made_in_the_sandbox_do_not_let_tools_escape(
    workspace: Path, isolation: Isolation
) -> None:
    box = sandbox(workspace, isolation)
    tools = Toolbox(workspace, sandbox=box)
    await tools.call("run", {"command": "ln -s /etc/passwd leak && ln -s / root-link && echo ok"})
    for path in ("leak", "root-link/etc/passwd", "../repo/../../etc/passwd"):
        with pytest.raises(ToolError, match="outside the repository"):
            await tools.call("read_file", {"path": path})
        with pytest.raises(ToolError, match="outside the repository"):
            await tools.call("write_file", {"path": path, "content": "x"})
    box.close()
    assert "root:" in Path("/etc/passwd").read_text()
