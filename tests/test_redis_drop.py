"""A Redis that goes away under running workers (a managed Redis restarting, a network blip):
the workers wait it out quietly, keep their processes, and take jobs again once it is back.

A real `aios serve` on a REDIS_URL, a real redis-server stopped and started on the same port
(with no persistence: it comes back empty, as a managed Redis without AOF does).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.scheduler import RQScheduler

from bot.app import embedded_redis
from bot.app.embedded_redis import free_port
from bot.app.redis_outage import RedisOutage
from bot.app.worker import QuickWorker
from bot.runtime.catalog import QueueName
from bot.testbed.github import FakeGitHub, app_events
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from bot.testbed.turns import finish
from tests.serve_harness import (
    AIOS,
    REPO,
    Serve,
    children_of,
    horses_of,
    spawn_serve,
    steady_port,
    stop_serve,
    wait_for,
    workers_of,
)
from tests.test_cli_start import WORKER_START_TIMEOUT_S, clean_env

WAITING = "this worker waits for it"
"""The line each worker writes, once per NOTE_EVERY_S, while its Redis is away."""

BACK_TIMEOUT_S = 20.0
HOLD_DOWN_S = 5.0
"""How long Redis stays away: several of the schedulers' 1 s heartbeats and of the workers'
retries fail meanwhile."""


def waiting_lines(serve: Serve, pid: int) -> int:
    pattern = re.compile(rf"{WAITING}.*worker=aios-\S+-{pid}\b")
    return sum(1 for line in serve.log.read_text().splitlines() if pattern.search(line))


def schedulers_of(workers: list[int]) -> list[int]:
    """A worker's children other than its work horse: its scheduler process."""
    return sorted(pid for w in workers for pid in set(children_of(w)) - set(horses_of(w)))


def scheduler_locks(url: str) -> set[bytes | None]:
    client = redis.Redis.from_url(url)
    try:
        return {client.get(RQScheduler.get_locking_key(queue.value)) for queue in QueueName}
    finally:
        client.close()


def registered_workers(serve: Serve) -> object:
    try:
        return serve.get("/readyz")[1].get("workers")
    except OSError:
        return None


def test_workers_wait_out_a_redis_that_goes_away_and_work_once_it_is_back(
    github_fake: FakeGitHub, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    scripted_model.script.append(finish('{"questions": ["Which page size do you want?"]}'))
    port = steady_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis_dir = tmp_path / "redis"
    server = embedded_redis.start(redis_dir, port=port, appendonly=False)
    with LoopbackLLM(scripted_model) as llm:
        serve = spawn_serve(github_fake, llm, tmp_path, workers=1, env={"REDIS_URL": url})
        try:
            wait_for(lambda: registered_workers(serve) == 2, "both workers registered")
            workers = sorted(workers_of(serve, include_quick=True))
            assert len(workers) == 2
            wait_for(lambda: None not in scheduler_locks(url), "the schedulers' locks")
            # One scheduler per worker that won a queue's lock: one or two.
            schedulers = schedulers_of(workers)
            assert schedulers

            down_at = time.monotonic()
            server.stop()
            wait_for(
                lambda: all(waiting_lines(serve, pid) >= 1 for pid in workers),
                "each worker's waiting line",
                BACK_TIMEOUT_S,
            )
            status, answer = serve.get("/readyz")
            assert status == 503
            assert f"REDIS_URL={url} is unreachable" in str(answer["problems"])
            time.sleep(max(0.0, HOLD_DOWN_S - (time.monotonic() - down_at)))  # held down

            server = embedded_redis.start(redis_dir, port=port, appendonly=False)
            # The Redis came back empty: each worker registers again, each scheduler takes
            # its lock again (RQ's worker would start a dead one again after 10 minutes).
            wait_for(lambda: registered_workers(serve) == 2, "workers back", BACK_TIMEOUT_S)
            names = {f"aios-{host_of(serve)}-{pid}".encode() for pid in workers}
            wait_for(lambda: scheduler_locks(url) <= names, "schedulers back", BACK_TIMEOUT_S)
            # The schedulers lived through it. A worker without one may start its own now
            # (its maintenance finds a lock free in the emptied Redis): the locks keep it to
            # one scheduler per queue.
            assert set(schedulers) <= set(schedulers_of(workers))

            issue = github_fake.add_issue(REPO, "Add pagination to GET /users")
            payload = app_events.issue_labeled(github_fake, REPO, issue.number, "aios")
            assert serve.deliver("issues", payload, github_fake.webhook_secret)[0] == 202
            # 👀 comes from the route job (the quick worker), the comment from triage (the
            # agent worker): both took jobs again.
            github_fake.wait_until(
                lambda: len(github_fake.comments(REPO, issue.number)) == 1, BACK_TIMEOUT_S
            )
            with github_fake.lock:
                assert [(r.user, r.content) for r in issue.reactions] == [("aios[bot]", "eyes")]

            assert sorted(workers_of(serve, include_quick=True)) == workers
            assert serve.process.poll() is None
            log = serve.log.read_text()
            assert "Traceback" not in log
            assert "worker exited" not in log  # serve's supervisor never saw one die
            for pid in workers:
                assert waiting_lines(serve, pid) <= 2
            assert log.lower().count("unreachable") <= 2 * len(workers)
        finally:
            # Workers first: a job finishing while its Redis is gone is another story.
            serve.process.terminate()
            try:
                serve.process.wait(30)
            finally:
                stop_serve(serve)
                server.stop()


def host_of(serve: Serve) -> str:
    match = re.search(r"worker=aios-(\S+)-\d+", serve.log.read_text())
    assert match
    return match.group(1)


def test_a_worker_stopped_while_redis_is_away_exits_without_a_traceback(tmp_path: Path) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    log = tmp_path / "worker.log"
    with embedded_redis.start(tmp_path / "redis", port=port, appendonly=False) as server:
        with log.open("wb") as sink:
            worker = subprocess.Popen(
                [AIOS, "worker"],
                cwd=tmp_path,
                env=clean_env(REDIS_URL=url),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(
                lambda: "Scheduler for" in log.read_text(), "registered", WORKER_START_TIMEOUT_S
            )
            server.stop()
            wait_for(lambda: WAITING in log.read_text(), "the waiting line")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    text = log.read_text()
    assert "Traceback" not in text
    assert "worker stopped without unregistering: redis unreachable" in text


class ComesBackWhenNoticed(RedisOutage):
    """An outage whose Redis starts again (empty) as soon as the worker notices it is gone:
    the worker's step fails on a Redis that is away, whatever the machine's load."""

    def __init__(self, url: str, start: Callable[[], embedded_redis.EmbeddedRedis]) -> None:
        super().__init__(url, "in-process")
        self._start = start
        self.noticed_errors: list[Exception] = []
        self.server: embedded_redis.EmbeddedRedis | None = None

    def noticed(self, error: Exception) -> None:
        super().noticed(error)
        self.noticed_errors.append(error)
        if self.server is None:
            self.server = self._start()


STEPS: dict[str, Callable[[QuickWorker], object]] = {
    "start-up": lambda worker: worker.bootstrap(),
    "the scheduler's locks": lambda worker: worker._start_scheduler(burst=True),
    "the suspension check": lambda worker: worker.check_for_suspension(False),
    "maintenance": lambda worker: worker.run_maintenance_tasks(),
}


@pytest.mark.parametrize("step", STEPS)
def test_each_step_of_the_work_loop_waits_out_a_lost_redis(step: str, tmp_path: Path) -> None:
    """RQ quits with a traceback when Redis is lost outside its dequeue (a worker's first
    maintenance runs right after it starts), and `serve` then starts another worker."""
    port = steady_port()
    url = f"redis://127.0.0.1:{port}/0"

    def start() -> embedded_redis.EmbeddedRedis:
        return embedded_redis.start(tmp_path / "redis", port=port, appendonly=False)

    server = start()
    connection = redis.Redis.from_url(url)
    worker = QuickWorker([Queue("q", connection=connection)], connection=connection, name="w-1")
    outage = worker.outage = ComesBackWhenNoticed(url, start)
    try:
        if step != "start-up":
            worker.register_birth()  # bootstrap's part these steps need (no pubsub thread)
        server.stop()
        STEPS[step](worker)  # returns, where RQ's would raise ConnectionError

        assert outage.noticed_errors, "the step never met the lost Redis"
        assert isinstance(outage.noticed_errors[0], redis.ConnectionError)
        assert connection.exists(worker.key)  # registered again in the Redis that came back
    finally:
        worker.unsubscribe()  # the pubsub thread that bootstrap started
        connection.close()
        if outage.server is not None:
            outage.server.stop()
