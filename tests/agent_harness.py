"""The whole pipeline in one test process: the real web app receives the fake's webhooks, the
pump and real RQ workers route them and run the agents against the scripted model.

Faster than `aios serve` end to end (no process start-up), with the same code on the path:
web → inbox → pump → route job → handlers → jobs → engine → effects → GitHub fake.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

from bot.app.web import create_app
from bot.handlers import build_router
from bot.inbox.pump import DeliveryPump
from bot.runtime import refresh
from bot.runtime.control import ControlledJob
from bot.runtime.queues import JobQueue
from bot.settings import Settings
from bot.testbed.github import FakeGitHub
from bot.testbed.github.state import Issue
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from bot.testbed.loopback import LoopbackServer
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.names import is_control_center
from tests.serve_harness import REPO, SEED_FILES, TEST_WRITE_SPACING_S, passable

MAX_ROUNDS = 200
"""Pump-and-work rounds `drain` runs at most: a loop of jobs that never settles fails. (A short
job rescheduled for its installation's write turn takes a round of its own.)"""


@dataclass
class Team:
    fake: FakeGitHub
    model: ScriptedModel
    connection: redis.Redis
    redis_url: str
    _flushed: int = 0

    def drain(self, *, agents: bool = True) -> int:
        """Route every stored delivery and run every job they lead to, until nothing is left.

        Returns how many jobs ran. Jobs run in this process, one at a time, as RQ's
        SimpleWorker runs them; a delivery a job's effect causes is routed in a later round.
        With `agents=False` agent jobs stay queued, as behind busy agent workers.
        """
        jobs = JobQueue(self.connection)
        pump = DeliveryPump(self.connection, jobs, consumer="team", block_ms=10)
        queues = [jobs.route, jobs.agents] if agents else [jobs.route]
        ran = 0
        for _ in range(MAX_ROUNDS):
            moved = pump.run_once()
            before = self._finished(jobs)
            worker = SimpleWorker(queues, connection=self.connection, job_class=ControlledJob)
            # The scheduler enqueues jobs that asked to run later (a write turn) once due.
            worker.work(burst=True, with_scheduler=True)
            done = self._finished(jobs) - before
            ran += done
            if not moved and not done and not _await_scheduled(jobs):
                return ran
        raise AssertionError(f"jobs kept coming after {MAX_ROUNDS} rounds")

    @staticmethod
    def _finished(jobs: JobQueue) -> int:
        return sum(
            len(queue.finished_job_registry) + len(queue.failed_job_registry)
            for queue in (jobs.route, jobs.agents)
        )

    def flush_center(self, *, agents: bool = True) -> int:
        """Let every paced Control Center refresh come due and run it: what the pumps do once
        the pacing interval has passed (no test waits for it). Drains first, so refreshes
        asked for by what is still queued are flushed too."""
        ran = self.drain(agents=agents)
        for slot in self.connection.scan_iter(refresh.SLOT_KEY.format(repo="*")):
            self.connection.delete(slot)  # the pacing interval has passed
        names = self.connection.zrange(refresh.DUE_KEY, 0, -1)
        if names:
            # Due now: a due time names its job, so each flush needs one of its own.
            self._flushed = max(refresh.now_ms(), self._flushed + 1)
            self.connection.zadd(refresh.DUE_KEY, dict.fromkeys(names, self._flushed), xx=True)
        return ran + self.drain(agents=agents)

    def centers(self) -> list[Issue]:
        """Every Control Center issue of the repository (the App's, found by the marker)."""
        with self.fake.lock:
            issues = self.fake.repo(REPO).issues.values()
            return [
                i for i in issues if is_control_center(i.body) and i.user == self.fake.bot_login
            ]

    def center(self) -> Issue:
        """The one Control Center issue, as it is after every due refresh ran."""
        self.flush_center()
        (issue,) = self.centers()
        return issue

    def center_without_agents(self) -> Issue:
        """`center()` while agent jobs stay queued."""
        self.flush_center(agents=False)
        (issue,) = self.centers()
        return issue

    def item(self, number: int) -> WorkItem:
        found = self.item_or_none(number)
        assert found is not None, f"no work item for #{number}"
        return found

    def item_or_none(self, number: int) -> WorkItem | None:
        return asyncio.run(_load(self.redis_url, number))

    def progress(self, number: int) -> str:
        marker = f"<!-- aios:progress item={REPO}#{number} -->"
        (comment,) = [c for c in self.fake.comments(REPO, number) if c.body.startswith(marker)]
        return comment.body

    def comments(self, number: int, marker: str) -> list[Any]:
        return [c for c in self.fake.comments(REPO, number) if c.body.startswith(marker)]

    def failed_jobs(self) -> list[str]:
        return [
            job_id
            for queue in (Queue("aios-route", connection=self.connection), self._agents())
            for job_id in queue.failed_job_registry.get_job_ids()
        ]

    def _agents(self) -> Queue:
        return Queue("aios-agents", connection=self.connection)


def _await_scheduled(jobs: JobQueue, timeout: float = 30.0) -> bool:
    """Whether a job is scheduled to run again (a short job waiting for its installation's
    write turn); if so, return once one is due."""
    registries = [ScheduledJobRegistry(queue=queue) for queue in (jobs.route, jobs.agents)]
    if not any(registry.count for registry in registries):
        return False
    deadline = time.monotonic() + timeout
    while not any(registry.get_jobs_to_schedule() for registry in registries):
        if time.monotonic() > deadline:
            raise AssertionError(f"a rescheduled job was not due within {timeout:.0f}s")
        time.sleep(0.05)  # polling the condition "a scheduled job is due", not a delay
    return True


async def _load(url: str, number: int) -> WorkItem | None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return await store.load_item(client, REPO, number)
    finally:
        await client.aclose()


@pytest.fixture
def team(
    github_fake: FakeGitHub,
    scripted_model: ScriptedModel,
    redis_client: redis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Team]:
    """The App installed on octo-org/hello (a bare git remote), its webhooks received by the
    real web app in this process, the scripted model behind the model API."""
    if github_fake.repo(REPO).git_dir is None:
        github_fake.create_git_repo(REPO, tmp_path / "remotes", SEED_FILES)
    monkeypatch.chdir(tmp_path)
    passable(tmp_path)
    with LoopbackLLM(scripted_model) as llm:
        env = {
            **github_fake.env(),
            "REDIS_URL": redis_url,
            "AIOS_DATA_DIR": str(tmp_path / "data"),
            "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
            "ANTHROPIC_BASE_URL": llm.url,
            "AIOS_GITHUB_WRITE_SPACING_S": TEST_WRITE_SPACING_S,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings.from_env(dotenv_path=None)
        client = redis.asyncio.Redis.from_url(redis_url)
        app = create_app(settings, redis_client=client, router=build_router())

        async def close_redis(_app: object) -> None:
            await client.aclose()

        app.on_cleanup.append(close_redis)
        server = LoopbackServer(app)
        server.start()
        github_fake.webhook_url = f"{server.origin}/webhook"
        try:
            yield Team(github_fake, scripted_model, redis_client, redis_url)
        finally:
            github_fake.webhook_url = None
            server.stop()
