"""`aios serve` as a real process: embedded Redis, a worker, GitHub faked at its HTTP boundary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.embedded_redis import free_port
from tests.fakes import app_events, webhooks
from tests.fakes.github import FakeGitHub

REPO = "octo-org/hello"
AIOS = str(Path(sys.executable).with_name("aios"))
START_TIMEOUT_S = 30.0


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
def start_serve(github_fake: FakeGitHub, tmp_path: Path) -> Iterator[Any]:
    started: list[Serve] = []
    data_dir = tmp_path / "data"

    def start(*, workers: int = 1) -> Serve:
        port = free_port()
        log = tmp_path / f"serve-{len(started)}.log"
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("REDIS_URL", "AIOS_ENV") and not key.startswith("ANTHROPIC")
        }
        env.update(github_fake.env())
        env.update({"AIOS_DATA_DIR": str(data_dir), "LOG_LEVEL": "INFO"})
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [AIOS, "serve", "--port", str(port), "--workers", str(workers)],
                env=env,
                cwd=tmp_path,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        serve = Serve(process, port, data_dir, log)
        started.append(serve)
        serve.wait_ready(workers=workers > 0)
        return serve

    yield start
    for serve in started:
        if serve.process.poll() is None:
            serve.process.kill()
            serve.process.wait(10)


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


def wait_for(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_labeled_issue_gets_eyes_and_a_progress_comment(
    github_fake: FakeGitHub, start_serve: Any
) -> None:
    serve = start_serve(workers=1)
    issue = github_fake.add_issue(REPO, "Add pagination to GET /users")
    payload = app_events.issue_labeled(github_fake, REPO, issue.number, "aios")

    status, answer = serve.deliver("issues", payload, github_fake.webhook_secret)
    assert (status, answer) == (202, {"status": "accepted"})

    github_fake.wait_until(lambda: len(github_fake.comments(REPO, issue.number)) == 1, timeout=20)
    with github_fake.lock:
        assert [(r.user, r.content) for r in issue.reactions] == [("aios[bot]", "eyes")]
    (comment,) = github_fake.comments(REPO, issue.number)
    assert comment.body.startswith(f"<!-- aios:progress item={REPO}#{issue.number} -->")
    assert "Ada (CTO)" in comment.body

    redis_dir = serve.data_dir / "redis"
    assert processes_in(redis_dir), "the embedded redis-server should be running"
    serve.process.send_signal(signal.SIGTERM)
    assert serve.process.wait(30) == 0
    assert processes_in(redis_dir) == []


def test_killed_outright_it_leaves_no_redis_or_worker_behind(
    github_fake: FakeGitHub, start_serve: Any
) -> None:
    serve = start_serve(workers=1)
    redis_dir = serve.data_dir / "redis"
    assert processes_in(redis_dir)
    serve.process.kill()
    serve.process.wait(10)
    wait_for(lambda: processes_in(redis_dir) == [], "redis-server to follow its parent")
    wait_for(
        lambda: not any("bot.cli worker" in c for c in workers_of(serve)),
        "workers to follow their parent",
    )


def workers_of(serve: Serve) -> list[str]:
    # Workers are found by the AIOS_DATA_DIR their parent handed them in the environment.
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"AIOS_DATA_DIR={serve.data_dir}".encode() in environ:
            found.append(cmdline)
    return found


def test_deliveries_accepted_without_workers_survive_a_restart(
    github_fake: FakeGitHub, start_serve: Any
) -> None:
    first = start_serve(workers=0)
    issue = github_fake.add_issue(REPO, "Fix the flaky login test")
    payload = app_events.issue_labeled(github_fake, REPO, issue.number, "aios:qa")
    assert first.deliver("issues", payload, github_fake.webhook_secret)[0] == 202
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(30) == 0
    assert github_fake.comments(REPO, issue.number) == []

    start_serve(workers=1)
    github_fake.wait_until(lambda: len(github_fake.comments(REPO, issue.number)) == 1, timeout=20)
    assert "(QA)" in github_fake.comments(REPO, issue.number)[0].body
