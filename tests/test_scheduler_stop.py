"""A stopping worker never waits forever on its scheduler process."""

from __future__ import annotations

import multiprocessing
import signal
import time
from types import SimpleNamespace

import pytest

from bot.app import worker as worker_module
from bot.app.worker import SchedulerDiesWithWorker


def deaf_to_sigterm(ready: multiprocessing.synchronize.Event) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.set()
    while True:
        time.sleep(1)


def test_a_scheduler_that_ignores_sigterm_is_killed_so_its_worker_can_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_module, "SCHEDULER_STOP_S", 0.5)
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    process = context.Process(target=deaf_to_sigterm, args=(ready,))
    process.start()
    try:
        assert ready.wait(30)
        worker = SimpleNamespace(scheduler=SimpleNamespace(_process=process))
        SchedulerDiesWithWorker.stop_scheduler(worker)  # type: ignore[arg-type]
        assert not process.is_alive()
        assert process.exitcode == -signal.SIGKILL
    finally:
        if process.is_alive():
            process.kill()
            process.join()


def test_a_scheduler_that_stops_on_sigterm_is_not_killed() -> None:
    context = multiprocessing.get_context("fork")
    process = context.Process(target=time.sleep, args=(60,))
    process.start()
    worker = SimpleNamespace(scheduler=SimpleNamespace(_process=process))
    SchedulerDiesWithWorker.stop_scheduler(worker)  # type: ignore[arg-type]
    assert process.exitcode == -signal.SIGTERM
