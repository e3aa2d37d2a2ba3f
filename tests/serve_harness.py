"""Real `aios serve` processes for end-to-end tests: started, probed, and always stopped."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app.embedded_redis import free_port
from bot.evals.serve import Serve as EvalServe
from bot.testbed import webhooks
from bot.testbed.github import FakeGitHub
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM

REPO = "octo-org/hello"
SEED_FILES = {"README.md": "# hello\n", "app.py": 'def hello():\n    return "hi"\n'}
AIOS = str(Path(sys.executable).with_name("aios"))
START_TIMEOUT_S = 60.0
"""Workers preload every job module before they register: slow on a busy 2-core machine."""
LLM_KEY = "sk-ant-test-not-a-real-key"
TEST_WRITE_SPACING_S = "0.05"
"""The fake has no secondary rate limit: writes are paced 20 times faster than GitHub asks, so
scenarios do not spend minutes waiting for write turns. Tests of the pacing itself set
AIOS_GITHUB_WRITE_SPACING_S (or a RetryPolicy) back to 1 s."""


class Serve(EvalServe):
    """`aios serve` as `aios eval` starts it, with what tests ask of it besides."""

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def deliver(
        self, event: str, payload: dict[str, Any], secret: str
    ) -> tuple[int, dict[str, Any]]:
        body = webhooks.encode(payload)
        request = urllib.request.Request(
            self.url + "/webhook",
            data=body,
            headers=webhooks.delivery_headers(event, body, secret),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def wait_ready(self, *, workers: bool) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        path = "/readyz" if workers else "/healthz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"aios serve exited early:\n{self.log.read_text()}")
            try:
                if self.get(path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"aios serve not ready on {path}:\n{self.log.read_text()}")


@pytest.fixture
def scripted_model() -> ScriptedModel:
    """The model every agent of the test talks to; tests append the turns they expect."""
    return ScriptedModel([])


def passable(path: Path) -> None:
    """Let other uids pass through (not list) every directory down to `path`, as on a deployed
    machine: the sandbox's uid works in the workspaces under the data directory, and pytest's
    temporary directories are closed to others."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(directory, mode | stat.S_IXOTH)


def spawn_serve(
    github_fake: FakeGitHub,
    llm: LoopbackLLM,
    workdir: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    new_session: bool = False,
) -> Serve:
    """Start `aios serve` in `workdir` against the fake GitHub and the loopback model.

    Every serve of one `workdir` shares its data dir (and so its embedded Redis data).
    `env` adds settings (shorter timeouts, sweep periods) for the whole process tree.
    `new_session` makes serve lead a process group of its own, as a shell's foreground job
    does, so a test can signal that group (`os.killpg`) the way Ctrl-C in a terminal does.
    """
    data_dir = workdir / "data"
    passable(workdir)
    if github_fake.repo(REPO).git_dir is None:
        github_fake.create_git_repo(REPO, workdir / "remotes", SEED_FILES)
    port = free_port()
    log = workdir / f"serve-{port}.log"
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "AIOS_ENV") and not key.startswith("ANTHROPIC")
    }
    environ.update(github_fake.env())
    environ.update(
        {
            "AIOS_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "INFO",
            "ANTHROPIC_API_KEY": LLM_KEY,
            "ANTHROPIC_BASE_URL": llm.url,
            "AIOS_GITHUB_WRITE_SPACING_S": TEST_WRITE_SPACING_S,
            **(env or {}),
        }
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [AIOS, "serve", "--port", str(port), "--workers", str(workers)],
            env=environ,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    serve = Serve(process, port, data_dir, log)
    try:
        serve.wait_ready(workers=workers > 0)
    except BaseException:
        stop_serve(serve)
        raise
    return serve


def stop_serve(serve: Serve) -> None:
    if serve.process.poll() is None:
        serve.process.kill()
        serve.process.wait(10)


@pytest.fixture
def start_serve(
    github_fake: FakeGitHub, tmp_path: Path, scripted_model: ScriptedModel
) -> Iterator[Callable[..., Serve]]:
    """Start `aios serve` against the fake GitHub, a bare git remote and the scripted model.

    The remote exists from the fixture's start, so a test can seed it before serving.
    """
    started: list[Serve] = []
    if github_fake.repo(REPO).git_dir is None:
        github_fake.create_git_repo(REPO, tmp_path / "remotes", SEED_FILES)
    llm = LoopbackLLM(scripted_model).__enter__()

    def start(*, workers: int = 1, env: dict[str, str] | None = None) -> Serve:
        serve = spawn_serve(github_fake, llm, tmp_path, workers=workers, env=env)
        started.append(serve)
        return serve

    try:
        yield start
    finally:
        for serve in started:
            stop_serve(serve)
        llm.__exit__()


def processes_in(directory: Path) -> list[str]:
    """Live processes whose working directory is `directory`.

    redis-server rewrites its own argv (its process title), but it works in its --dir,
    which is how the embedded one is found.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = (entry / "cwd").resolve()
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cwd == directory.resolve() and "Z (zombie)" not in status:
            found.append(cmdline)
    return found


def steady_port() -> int:
    """A free loopback port below Linux's ephemeral range (32768 and up), for a server that
    stops and starts again on it: while it is down, clients retrying it (and any other
    process) take ephemeral ports, and one of them could be this one (a client even connects
    to itself when it draws the port it dials), so Redis could not bind it again."""
    rng = random.Random()
    while True:
        port = rng.randint(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def wait_for(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def horses_of(worker: int) -> list[int]:
    """The work horses among `worker`'s children: RQ's horse leads its own process group,
    which tells it from the worker's other child, the scheduler."""
    return [pid for pid in children_of(worker) if _process_group(pid) == pid]


def _process_group(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces: the fields after it are fixed.
    return int(stat.rsplit(")", 1)[1].split()[2])


def workers_of(serve: Serve, *, include_quick: bool = False) -> list[int]:
    """Pids of the agent workers `serve` started (found by the data dir it gave them).

    `include_quick` adds the worker that takes only short jobs (`--quick-only`).
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if (
            f"AIOS_DATA_DIR={serve.data_dir}".encode() in environ.split(b"\0")
            and (
                cmdline[-2:] == [b"worker", b""]
                or (include_quick and cmdline[-3:] == [b"worker", b"--quick-only", b""])
            )
            and "Z (zombie)" not in status
            and _parent(int(entry.name)) == serve.process.pid
        ):
            found.append(int(entry.name))
    return found


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid` (a worker's are its work horses)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == pid:
            try:
                if "Z (zombie)" not in (entry / "status").read_text():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def kill_tree(pid: int) -> list[int]:
    """SIGKILL `pid` and every process below it, as a crash would; returns the pids killed."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            children.setdefault(_parent(int(entry.name)), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return tree
