"""A stopping worker never waits forever on its scheduler process."""

from __future__ import annotations

import multiprocessing
import signal
import time
from types import SimpleNamespace

import pytest

from bot.app import worker as worker_module
from bot.app.worker import SchedulerDiesWithWorker


def sleeper(ready: multiprocessing.synchronize.Event, on_sigterm: signal.Handlers) -> None:
    """A stand-in scheduler. Its SIGTERM handling is set here, not inherited: a fork of the
    test process inherits whatever handler an earlier test left there."""
    signal.signal(signal.SIGTERM, on_sigterm)
    ready.set()
    while True:
        time.sleep(1)


def start_sleeper(on_sigterm: signal.Handlers) -> multiprocessing.process.BaseProcess:
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    process = context.Process(target=sleeper, args=(ready, on_sigterm))
    process.start()
    assert ready.wait(30)
    return process


def test_a_scheduler_that_ignores_sigterm_is_killed_so_its_worker_can_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_module, "SCHEDULER_STOP_S", 0.5)
    process = start_sleeper(signal.SIG_IGN)
    try:
        worker = SimpleNamespace(scheduler=SimpleNamespace(_process=process))
        SchedulerDiesWithWorker.stop_scheduler(worker)  # type: ignore[arg-type]
        assert not process.is_alive()
        assert process.exitcode == -signal.SIGKILL
    finally:
        if process.is_alive():
            process.kill()
            process.join()


def test_a_scheduler_that_stops_on_sigterm_is_not_killed() -> None:
    process = start_sleeper(signal.SIG_DFL)
    worker = SimpleNamespace(scheduler=SimpleNamespace(_process=process))
    SchedulerDiesWithWorker.stop_scheduler(worker)  # type: ignore[arg-type]
    assert process.exitcode == -signal.SIGTERM
