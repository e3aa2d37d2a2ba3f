"""`aios serve`: the web process, its workers and (with no REDIS_URL) its own Redis, as one."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import redis
import structlog
from aiohttp import web

from bot.app import embedded_redis, hook_config, webhook_proxy
from bot.app.listen import BACKLOG, CannotListen, listen
from bot.app.processes import die_with_parent, spawn_aios
from bot.app.readiness import Readiness, ServeWorkers, model_problem, redis_unreachable
from bot.app.setup import setup_routes
from bot.app.web import READINESS_KEY, create_app, setup_pages
from bot.handlers import build_router
from bot.runtime import redis_clients
from bot.settings import Settings

log = structlog.get_logger(__name__)

EXIT_REDIS_EVICTS = 2
"""A Redis that may evict is a configuration error, like a malformed setting."""
EXIT_CANNOT_LISTEN = 3
"""The web port is in use (or not ours to bind): nothing else was started."""

WORKER_STOP_TIMEOUT_S = 30.0
WORKER_CHECK_INTERVAL_S = 0.5
"""How long workers get to finish their current job on shutdown before they are killed."""


def serve(settings: Settings, *, workers: int, env_path: Path) -> int:
    """Run until SIGINT/SIGTERM; stops workers and the embedded Redis on the way out.

    The port is bound first: when it is taken, serve says so in one line and exits
    `EXIT_CANNOT_LISTEN` before it has started a Redis or a worker.
    """
    try:
        listeners = listen(settings.host, settings.port)
    except CannotListen as exc:
        print(f"aios: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    try:
        return _serve_on(listeners, settings, workers=workers, env_path=env_path)
    finally:
        for listener in listeners:
            listener.close()


def _serve_on(
    listeners: list[socket.socket], settings: Settings, *, workers: int, env_path: Path
) -> int:
    embedded: embedded_redis.EmbeddedRedis | None = None
    children: list[subprocess.Popen[bytes]] = []
    try:
        if settings.redis_url is None:
            if running := embedded_redis.discover(settings.data_dir / "redis"):
                # Two redis-servers appending to one AOF would corrupt it.
                print(
                    f"aios: another `aios serve` runs with AIOS_DATA_DIR={settings.data_dir} "
                    f"(its Redis is at {running}); stop it or use another data directory",
                    file=sys.stderr,
                )
                return 1
            try:
                embedded = embedded_redis.start(settings.data_dir / "redis")
            except embedded_redis.EmbeddedRedisError as exc:
                print(f"aios: {exc}", file=sys.stderr)
                return 1
            embedded.publish_address()
            settings = dataclasses.replace(settings, redis_url=embedded.url)
            log.info("embedded redis started", url=embedded.url, data_dir=str(embedded.data_dir))
        elif unreachable := _unreachable(settings.redis_url):
            # Up anyway: /readyz says why, and the workers wait for Redis with backoff.
            print(
                f"aios: {unreachable}; serving anyway: /readyz answers 503 and the workers "
                "wait until Redis answers",
                file=sys.stderr,
            )
        elif problem := redis_clients.startup_problem(settings.redis_url):
            print(f"aios: {problem}", file=sys.stderr)
            return EXIT_REDIS_EVICTS
        # One worker only for short jobs (routing, commands) whenever there are workers at
        # all, so maintainers are answered while every other worker runs an agent.
        children = [_spawn_worker(settings, quick_only=True)] if workers else []
        children += [_spawn_worker(settings) for _ in range(workers)]
        readiness = Readiness(
            workers=ServeWorkers(children) if children else None,
            model_problem=model_problem(),
            embedded_redis=embedded is not None,
        )
        _run_loop(_run_web(settings, env_path, children, listeners, readiness))
        return 0
    finally:
        _stop_workers(children)
        if embedded is not None:
            embedded.stop()
            log.info("embedded redis stopped")


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where it is installed: the receiver's socket work is most of its CPU."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _unreachable(url: str) -> str | None:
    """Why the Redis at `url` does not answer now, in one line, or None when it does."""
    client = redis_clients.sync_client(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        return redis_unreachable(url, exc)
    finally:
        client.close()
    return None


async def _run_web(
    settings: Settings,
    env_path: Path,
    children: list[subprocess.Popen[bytes]],
    listeners: list[socket.socket],
    readiness: Readiness,
) -> None:
    assert settings.redis_url is not None
    client = redis_clients.async_client(settings.redis_url, max_connections=256)
    extra_routes = setup_pages(settings, env_path, _load_setup_routes)
    app = create_app(
        settings, redis_client=client, router=build_router(), extra_routes=extra_routes
    )
    app[READINESS_KEY] = readiness
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    for listener in listeners:
        await web.SockSite(runner, listener, backlog=BACKLOG).start()
    bound = runner.addresses[0] if runner.addresses else (settings.host, settings.port)
    log.info(
        "aios listening",
        url=f"http://{bound[0]}:{bound[1]}",
        setup=bool(extra_routes),
        app_configured=settings.has_app_credentials,
    )
    if not settings.has_app_credentials:
        log.warning(f"no GitHub App configured yet: open http://{bound[0]}:{bound[1]}/setup")
    if readiness.model_problem is not None:
        log.warning(
            "ready for webhooks, not for agents: " + readiness.model_problem,
            readyz=f"http://{bound[0]}:{bound[1]}/readyz",
        )
    # Everything allocated so far lives as long as the process: keep it out of the
    # collector's full passes, which otherwise rescan it every few thousand requests.
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    supervisor = asyncio.create_task(_supervise(settings, children))
    intake = webhook_proxy.start(settings, app) + hook_config.start(settings, client)
    try:
        await stop.wait()
    finally:
        supervisor.cancel()
        await _cancel(intake)
        log.info("aios shutting down")
        await runner.cleanup()
        await client.aclose()


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _supervise(settings: Settings, children: list[subprocess.Popen[bytes]]) -> None:
    """Start a worker again when one dies (a crash, the OOM killer): serve is the whole App."""
    restarts = 0
    while True:
        await asyncio.sleep(WORKER_CHECK_INTERVAL_S)
        for index, child in enumerate(children):
            code = child.poll()
            if code is None:
                continue
            restarts += 1
            log.error("worker exited; starting another", pid=child.pid, exit_code=code)
            # Back off when workers keep dying, so a broken setup does not spin.
            await asyncio.sleep(min(30.0, 0.5 * restarts))
            children[index] = _spawn_worker(settings, quick_only="--quick-only" in child.args)


def _load_setup_routes(
    settings: Settings, *, env_path: Path, public_url: str | None
) -> list[web.AbstractRouteDef]:
    return list(setup_routes(settings, env_path=env_path, public_url=public_url))


def _spawn_worker(settings: Settings, *, quick_only: bool = False) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["REDIS_URL"] = settings.redis_url or ""
    command = [sys.executable, "-m", "bot.cli", "worker", *(["--quick-only"] if quick_only else [])]
    # Its own session: Ctrl-C reaches serve alone, which stops the workers before Redis.
    return spawn_aios(command, env=env, preexec_fn=die_with_parent, own_session=True)


class _StopNow(Exception):
    """A second Ctrl-C (or SIGTERM) while the workers finish their step: stop at once."""


def _stop_now(_signum: int, _frame: object) -> None:
    raise _StopNow


def _stop_workers(children: list[subprocess.Popen[bytes]]) -> None:
    """Warm shutdown: each worker lets its agent end the step under way (checkpointed, the
    job requeued) and exits; one still running after `WORKER_STOP_TIMEOUT_S` is killed, and
    its job resumes from the step before. Redis is stopped only after this returns."""
    running = [child for child in children if child.poll() is None]
    if not running:
        return
    previous = {sig: signal.signal(sig, _stop_now) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in running:
            child.send_signal(signal.SIGTERM)
        log.info(
            "stopping workers: agents end their current step; Ctrl-C again to stop at once",
            workers=len(running),
            within_s=WORKER_STOP_TIMEOUT_S,
        )
        deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
        for child in running:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker still busy; killing it", pid=child.pid)
                child.kill()
                child.wait()
    except _StopNow:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)  # a third press changes nothing: no traceback
        log.warning("asked again: killing the workers; their agents resume from the last step")
        for child in running:
            child.kill()
        for child in running:
            child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("workers stopped", workers=len(running))
