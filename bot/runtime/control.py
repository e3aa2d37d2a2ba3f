"""Job control that is not a failure: run the job again later, or stop it for good.

Both are `BaseException`s on purpose. The `except Exception` blocks on a job's path are written
for failures (`jobs/scope.py` fails the work item on the last attempt; narration hooks are best
effort) and must let these through to the job's frame, as they let `CancelledError` through.
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from rq import Retry
from rq.job import Job

from bot.github.pacing import WriteDeferred

log = structlog.get_logger(__name__)


class Reschedule(BaseException):
    """Run this job again in `delay_s` seconds; the worker serves other jobs meanwhile.

    Jobs are idempotent (hidden markers, lookups before creates, the engine's pending
    effects), so a job rescheduled half-way picks up where the first run stopped.
    """

    def __init__(self, delay_s: float, reason: str) -> None:
        super().__init__(f"rescheduled in {delay_s:.1f}s: {reason}")
        self.delay_s = delay_s
        self.reason = reason


class Stop(BaseException):
    """End this job without a retry: the cause (a provider's spend limit) outlasts any retry
    and the work item already says what to do. `outcome` labels the job-outcome metric."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


def reschedule_of(exc: BaseException) -> Reschedule | None:
    """The reschedule `exc` asks for: its own, or the write turn GitHub pacing waits for."""
    if isinstance(exc, Reschedule):
        return exc
    if isinstance(exc, WriteDeferred):
        return Reschedule(exc.wait_s, "github-write-pacing")
    return None


class ControlledJob(Job):
    """RQ's Job, taught that a `Reschedule` is a `Retry` with an interval (RQ's own way for a
    job to ask to run later) and that a `Stop` is a failure with no retry left."""

    def _execute(self) -> Any:
        try:
            return super()._execute()
        except (Reschedule, WriteDeferred) as exc:
            reschedule = reschedule_of(exc)
            assert reschedule is not None
            # RQ schedules in whole seconds; its scheduler looks once a second.
            delay = max(1, math.ceil(reschedule.delay_s))
            log.info("job rescheduled", job_id=self.id, delay_s=delay, reason=reschedule.reason)
            # `max` one above the count so far: how long a job may keep coming back is the
            # raiser's decision (a write turn always comes; the model breaker bounds itself).
            return Retry(max=(self.number_of_retries or 0) + 1, interval=delay)
        except Stop as stop:
            self.retries_left = 0
            raise RuntimeError(f"stopped ({stop.outcome}): {stop}") from None
