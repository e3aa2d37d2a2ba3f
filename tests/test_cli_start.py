"""What `aios` says when it starts: its version, a port in use, a Redis that is not there yet,
every configuration error at once, /readyz while workers start or without a model, and
`./scripts/serve`'s first start. Real processes, sockets and redis-servers throughout."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from bot.agents.config import AgentConfig
from bot.agents.model_keys import missing_model_key
from bot.app import embedded_redis
from bot.app.embedded_redis import free_port
from bot.app.readiness import Readiness, ServeWorkers, model_problem
from bot.app.serve import EXIT_CANNOT_LISTEN
from tests.serve_harness import (
    AIOS,
    Serve,
    processes_in,
    steady_port,
    stop_serve,
    wait_for,
    workers_of,
)

ROOT = Path(__file__).resolve().parents[1]
WORKER_START_TIMEOUT_S = 60.0
"""A worker imports the agent runtime before it registers: slow on a busy machine."""


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any AIOS setting, App credential, Redis or model key."""
    drop = ("AIOS_", "APP_", "ANTHROPIC_", "OPENAI_", "REDIS_", "PRIVATE_KEY", "WEBHOOK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def run_aios(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIOS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_comes_from_the_installed_package(flag: str, tmp_path: Path) -> None:
    result = run_aios([flag], tmp_path, clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"aios {importlib.metadata.version('aios')}\n"


def test_a_port_in_use_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_aios(
            ["serve", "--port", str(port)], tmp_path, clean_env(AIOS_DATA_DIR=str(data_dir))
        )
    assert result.returncode == EXIT_CANNOT_LISTEN
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert f"port {port} is already in use" in result.stderr
    assert "--port or PORT" in result.stderr and "stop the process" in result.stderr
    # The port is bound before the embedded Redis starts: there is none to leave behind.
    assert processes_in(data_dir / "redis") == []
    assert not (data_dir / "redis" / embedded_redis.ADDRESS_FILE).exists()


def test_every_configuration_error_is_printed_at_once(tmp_path: Path) -> None:
    env = clean_env(PORT="http", LOG_LEVEL="loud", AIOS_ENV="staging")
    result = run_aios(["doctor"], tmp_path, env)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert [line.split(":")[2].strip() for line in lines] == ["AIOS_ENV", "LOG_LEVEL", "PORT"]
    assert all(line.startswith("aios: configuration error: ") for line in lines)


@dataclass
class StartedServe:
    serve: Serve
    redis_port: int


@pytest.fixture
def serve_without_redis(tmp_path: Path) -> Iterator[StartedServe]:
    """`aios serve` whose REDIS_URL points at a port nothing listens on (yet), with no model key."""
    redis_port = steady_port()
    port = free_port()
    data_dir = tmp_path / "data"
    log = tmp_path / "serve.log"
    env = clean_env(
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", AIOS_DATA_DIR=str(data_dir), LOG_LEVEL="INFO"
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [AIOS, "serve", "--port", str(port), "--workers", "1"],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    serve = Serve(process, port, data_dir, log)
    try:
        yield StartedServe(serve, redis_port)
    finally:
        for pid in workers_of(serve, include_quick=True):
            os.kill(pid, signal.SIGCONT)  # a stopped worker cannot act on its parent's death
        stop_serve(serve)


def readyz(serve: Serve) -> tuple[int, dict[str, object]] | None:
    try:
        return serve.get("/readyz")
    except OSError:
        return None  # not listening yet


def test_serve_waits_for_an_unreachable_redis_and_says_why_until_it_is_there(
    serve_without_redis: StartedServe, tmp_path: Path
) -> None:
    serve = serve_without_redis.serve
    wait_for(lambda: readyz(serve) is not None, "aios serve to listen")
    status, answer = serve.get("/readyz")
    assert status == 503
    [problem] = answer["problems"]  # type: ignore[misc]
    assert (
        f"REDIS_URL=redis://127.0.0.1:{serve_without_redis.redis_port}/0 is unreachable" in problem
    )
    assert "start Redis there or fix REDIS_URL" in problem
    # The agents' part of the answer names the model key, whatever Redis does.
    assert answer["agents"]["ready"] is False  # type: ignore[index]
    assert "ANTHROPIC_API_KEY is not set" in answer["agents"]["problem"]  # type: ignore[index]

    # Both workers (the quick one and the agent one) wait instead of crashing. Stopped, they
    # cannot register once Redis is there: that is when /readyz must say they are starting.
    wait_for(lambda: len(workers_of(serve, include_quick=True)) == 2, "both workers")
    wait_for(
        lambda: serve.log.read_text().count("this worker waits for it") >= 2,
        "worker notes",
        WORKER_START_TIMEOUT_S,
    )
    for pid in workers_of(serve, include_quick=True):
        os.kill(pid, signal.SIGSTOP)
    with embedded_redis.start(
        tmp_path / "redis", port=serve_without_redis.redis_port, appendonly=False
    ):
        wait_for(lambda: "REDIS_URL" not in str(serve.get("/readyz")[1]), "redis reachable")
        status, answer = serve.get("/readyz")
        assert status == 503
        assert answer["problems"] == ["workers starting: `aios serve` started 2"]

        for pid in workers_of(serve, include_quick=True):
            os.kill(pid, signal.SIGCONT)
        wait_for(
            lambda: serve.get("/readyz")[1].get("workers") == 2, "both", WORKER_START_TIMEOUT_S
        )
        status, answer = serve.get("/readyz")
        assert (status, answer["status"]) == (200, "ready")
        assert answer["agents"]["ready"] is False  # type: ignore[index]
        assert serve.process.poll() is None  # the same serve, never restarted

    log = serve.log.read_text()
    assert "Traceback" not in log
    first_screen = "\n".join(log.splitlines()[:8])
    assert "serving anyway: /readyz answers 503" in first_screen
    assert "ready for webhooks, not for agents: ANTHROPIC_API_KEY is not set" in first_screen


def test_a_worker_waits_for_redis_then_registers(tmp_path: Path) -> None:
    redis_port = steady_port()
    url = f"redis://127.0.0.1:{redis_port}/0"
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        worker = subprocess.Popen(
            [AIOS, "worker", "--quick-only"],
            cwd=tmp_path,
            env=clean_env(REDIS_URL=url),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: "this worker waits for it" in log.read_text(),
            "the waiting line",
            WORKER_START_TIMEOUT_S,
        )
        assert worker.poll() is None
        [line] = log.read_text().splitlines()
        assert f"REDIS_URL={url} is unreachable" in line
        with embedded_redis.start(tmp_path / "redis", port=redis_port, appendonly=False):
            client = redis.Redis.from_url(url)
            try:
                wait_for(
                    lambda: client.scard("rq:workers") == 1, "registered", WORKER_START_TIMEOUT_S
                )
            finally:
                client.close()
            # Its exit status is RQ's business: SIGTERM before RQ installs its handlers kills.
            worker.terminate()
            worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert "Traceback" not in log.read_text()


def test_readyz_tells_workers_starting_from_workers_gone(tmp_path: Path) -> None:
    assert Readiness().no_worker_registered() == "no worker alive: start one with `aios worker`"
    starting = subprocess.Popen(["sleep", "60"])
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        assert Readiness(workers=ServeWorkers([starting, gone])).no_worker_registered() == (
            "workers starting: `aios serve` started 1"
        )
        dead = Readiness(workers=ServeWorkers([gone])).no_worker_registered()
        assert "exited and are being started again" in dead and "`aios worker`" in dead
    finally:
        starting.kill()
        starting.wait()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "ANTHROPIC_API_KEY"),
        ({"ANTHROPIC_API_KEY": "k"}, None),
        ({"ANTHROPIC_AUTH_TOKEN": "t"}, None),
        ({"AIOS_LLM_PROVIDER": "openai"}, "OPENAI_API_KEY"),
        ({"AIOS_LLM_PROVIDER": "OpenAI", "OPENAI_API_KEY": "k"}, None),
        ({"AIOS_LLM_PROVIDER": "openai", "ANTHROPIC_API_KEY": "k"}, "OPENAI_API_KEY"),
    ],
)
def test_the_web_process_knows_the_model_key_as_the_agents_do(
    env: dict[str, str], variable: str | None
) -> None:
    """The web process must not import the LLM SDKs, so it asks `model_keys`; the agents ask
    `AgentConfig`. They must agree."""
    assert missing_model_key(env) == variable
    assert AgentConfig.from_env(env).missing_key() == variable
    problem = model_problem(env)
    assert (problem is None) == (variable is None)
    if variable is not None:
        assert problem is not None and problem.startswith(f"{variable} is not set")


def test_scripts_serve_says_what_it_does_and_how_to_run_aios(tmp_path: Path) -> None:
    """From another directory, with a virtualenv whose install is out of date: a line per
    step, pip's own progress, how to run `aios`, and `aios serve` started from the root."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    calls = tmp_path / "calls"
    # Stand-ins for the virtualenv's programs: they record how they were run.
    for name in ("python", "aios"):
        program = venv / "bin" / name
        program.write_text(
            f'#!/bin/sh\necho "{name} $* (in $PWD)" >> {calls}\n'
            + ('echo "Collecting aiohttp"\n' if name == "python" else "")
        )
        program.chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [str(ROOT / "scripts" / "serve"), "--port", "9999"],
        cwd=elsewhere,
        env={**clean_env(), "AIOS_VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    said = result.stderr.splitlines()
    assert (
        said[0]
        == f"aios: installing AIOS and its Python packages into {venv} (pip's progress follows)"
    )
    assert said[1] == "Collecting aiohttp"
    assert said[2] == "aios: packages installed"
    assert said[3] == (
        f"aios: other commands run from {ROOT} (where .env is): {venv}/bin/aios doctor, "
        f"or `source {venv}/bin/activate` to have `aios` on PATH"
    )
    assert said[4] == "aios: starting `aios serve --port 9999`"
    install, serve = calls.read_text().splitlines()
    assert install.startswith("python -m pip install") and " -q" not in install
    assert serve == f"aios serve --port 9999 (in {ROOT})"
