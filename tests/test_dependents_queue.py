"""A finished job's dependents reach their queue even when RQ skips them once (queues.py)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from rq import SimpleWorker
from rq.registry import ReadyJobRegistry

from bot.runtime.queues import DependentsQueue


def noop() -> str:
    return "done"


def test_a_dependent_skipped_under_contention_is_enqueued_when_its_dependency_ends(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = DependentsQueue("aios-test-dependents", connection=redis_client)
    first = queue.enqueue(noop)
    second = queue.enqueue(noop, depends_on=first)
    assert second.get_status() == "deferred"
    # RQ's own answer when another worker changed the ready registry meanwhile (WatchError):
    # the job stays in the registry "for a later cleanup pass", ten minutes away.
    skipped: list[list[str]] = []
    enqueue_jobs = ReadyJobRegistry.enqueue_jobs

    def skip_once(registry: ReadyJobRegistry, job_ids: list[str]) -> Any:
        if job_ids and not skipped:
            skipped.append(job_ids)
            return []
        return enqueue_jobs(registry, job_ids)

    monkeypatch.setattr(ReadyJobRegistry, "enqueue_jobs", skip_once)
    worker = SimpleWorker([queue], connection=redis_client, queue_class=DependentsQueue)
    worker.work(burst=True, max_jobs=1)

    assert skipped == [[second.id]]
    assert second.id in queue.job_ids
    assert queue.ready_job_registry.get_job_ids() == []
