"""`aios serve` and its commands against a Redis that stalls, evicts, or hides behind a random port.

Real processes and a real redis-server throughout; a TCP proxy stalls Redis's answers the way a
blocked Redis (`DEBUG SLEEP`, a fork, a slow disk) does.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.app import embedded_redis
from bot.app.embedded_redis import free_port
from bot.inbox import deliveries
from bot.testbed import webhooks
from bot.testbed.github import FakeGitHub
from tests.fakes.tcp_proxy import TcpProxy
from tests.serve_harness import AIOS, Serve, wait_for

SECRET = "redis-faults-secret"
GITHUB_TIMEOUT_S = 10.0
"""GitHub waits this long for an answer, then records the delivery as failed."""


def labeled_issue() -> bytes:
    payload = webhooks.example("issues", "labeled")
    payload["label"] = {**payload["label"], "name": "aios"}
    payload["installation"] = {"id": 1}
    return webhooks.encode(payload)


def deliver(port: int) -> int:
    """POST one signed delivery as GitHub does, giving up after GitHub's 10 s; 0 = no answer."""
    body = labeled_issue()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook",
        data=body,
        headers=webhooks.delivery_headers("issues", body, SECRET),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=GITHUB_TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except TimeoutError:
        return 0


@pytest.fixture
def serve_on(tmp_path: Path) -> Iterator[Callable[[str], Serve]]:
    """`aios serve --workers 0` on a given REDIS_URL (the web only: the receiver is on trial)."""
    started: list[Serve] = []

    def start(redis_url: str) -> Serve:
        port = free_port()
        log = tmp_path / f"serve-{len(started)}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOS_", "APP_"))}
        env.update(
            {"REDIS_URL": redis_url, "WEBHOOK_SECRET": SECRET, "AIOS_DATA_DIR": str(tmp_path)}
        )
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [AIOS, "serve", "--port", str(port), "--workers", "0"],
                env=env,
                cwd=tmp_path,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        serve = Serve(process, port, tmp_path, log)
        started.append(serve)
        serve.wait_ready(workers=False)
        return serve

    yield start
    for serve in started:
        serve.process.kill()
        serve.process.wait(10)


def send_waves(port: int, proxy: TcpProxy, waves: int, per_wave: int = 3) -> list[int]:
    """Waves of concurrent deliveries, each sent once the previous one's write reached Redis,
    so later deliveries arrive while earlier ones wait for an answer."""
    futures: list[concurrent.futures.Future[int]] = []
    with concurrent.futures.ThreadPoolExecutor(waves * per_wave) as pool:
        for wave in range(waves):
            sent = proxy.requests_bytes
            futures += [pool.submit(deliver, port) for _ in range(per_wave)]
            if wave < waves - 1:
                wait_for(lambda s=sent: proxy.requests_bytes > s, "the wave's write in flight")
        return [future.result() for future in futures]


def stored_count(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.xlen(deliveries.STREAM_KEY))
    finally:
        client.close()


def test_a_redis_stalled_for_six_seconds_still_stores_every_delivery(
    redis_server: embedded_redis.EmbeddedRedis, redis_url: str, serve_on: Callable[[str], Serve]
) -> None:
    with TcpProxy("127.0.0.1", redis_server.port) as proxy:
        serve = serve_on(proxy.url)
        assert deliver(serve.port) == 202  # the receiver's connection to Redis is open
        proxy.hold_replies(6.0)
        answers = send_waves(serve.port, proxy, waves=2)
    # GitHub allows 10 s; a Redis that answers after 6 is slow, not down.
    assert answers == [202] * 6
    assert stored_count(redis_url) == 7


def test_a_redis_that_stops_answering_gets_a_503_before_github_gives_up(
    redis_server: embedded_redis.EmbeddedRedis, redis_url: str, serve_on: Callable[[str], Serve]
) -> None:
    with TcpProxy("127.0.0.1", redis_server.port) as proxy:
        serve = serve_on(proxy.url)
        assert deliver(serve.port) == 202
        proxy.hold_replies(60.0)
        answers = send_waves(serve.port, proxy, waves=2)
    # Every delivery is answered (0 would be GitHub's time-out), the second wave too although
    # it queued behind the first: 503, so GitHub records it as failed and `aios redeliver`
    # brings it back.
    assert answers == [503] * 6


@pytest.fixture
def evicting_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of its own that evicts keys when full, as caches are configured."""
    server = embedded_redis.start(tmp_path / "evicting-redis", appendonly=False)
    client = redis.Redis.from_url(server.url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.close()
    yield server.url
    server.stop()


@pytest.mark.parametrize("command", [["serve", "--workers", "0", "--port", "0"], ["worker"]])
def test_serve_and_worker_refuse_a_redis_that_evicts(
    command: list[str], evicting_redis: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOS_", "APP_"))}
    env.update({"REDIS_URL": evicting_redis, "AIOS_DATA_DIR": str(tmp_path / "data")})
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "maxmemory-policy allkeys-lru" in result.stderr
    assert "Set `maxmemory-policy noeviction`" in result.stderr


def run_aios(
    command: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIOS, *command], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_every_command_finds_the_embedded_redis_of_a_running_serve(
    start_serve: Callable[..., Serve], github_fake: FakeGitHub, tmp_path: Path
) -> None:
    serve = start_serve(workers=0)
    lost = github_fake.add_hook_delivery(status_code=503)
    address = embedded_redis.discover(serve.data_dir / "redis")
    assert address is not None and address.startswith("redis://127.0.0.1:")
    env: dict[str, Any] = {
        k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("AIOS_")
    }
    env.update(github_fake.env())
    env["AIOS_DATA_DIR"] = str(serve.data_dir)

    redelivered = run_aios(["redeliver", "--hours", "1"], env, tmp_path)
    assert redelivered.returncode == 0, redelivered.stderr
    assert "asked GitHub to redeliver 1 failed deliveries" in redelivered.stdout
    assert github_fake.redelivery_requests == [lost.id]

    doctor = run_aios(["doctor"], env, tmp_path)
    assert "✓ redis" in doctor.stdout and "reachable" in doctor.stdout, doctor.stdout

    # A second server on the same data directory would share the first one's AOF.
    second = run_aios(["serve", "--port", "0"], env, tmp_path)
    assert second.returncode == 1
    assert "another `aios serve` runs" in second.stderr

    serve.process.terminate()
    serve.process.wait(30)
    assert embedded_redis.discover(serve.data_dir / "redis") is None
