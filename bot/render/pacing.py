"""The pacing of edits to one comment: at most one per interval, the latest picture wins.

`Pacer` is pure; `PacedWriter` is the small asyncio driver that sleeps (through an injected
`sleep`) and calls an injected `write`.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

DEFAULT_MIN_INTERVAL_S = 3.0
"""Least time between two edits of one comment: human pacing, and GitHub's secondary limits."""


class Action(enum.StrEnum):
    WRITE = "write"
    """Write `Decision.body` now, then report `Pacer.written` or `Pacer.failed`."""
    SCHEDULE = "schedule"
    """A body is pending; poll again at `Decision.at` (or when the write in flight ends)."""
    SKIP = "skip"
    """Nothing to write: identical, after a final body, or nothing pending."""


@dataclass(frozen=True)
class Decision:
    action: Action
    at: float
    body: str | None = None
    superseded: bool = False
    """An older pending body was dropped in favour of this offer."""
    reason: str = ""


class Pacer:
    """Paces the edits of one comment: at most one per `min_interval_s`, latest body wins.

    One write at a time: a WRITE decision puts its body in flight until the caller
    reports `written(body)` or `failed(body)` (then it is pending again). A `final`
    body is never dropped: it waits for the next slot like any other, and non-final
    bodies offered after it are skipped.
    """

    def __init__(
        self, *, clock: Callable[[], float], min_interval_s: float = DEFAULT_MIN_INTERVAL_S
    ) -> None:
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be 0 or more, got {min_interval_s}")
        self._clock = clock
        self._interval = min_interval_s
        self._shown: str | None = None
        """The body on GitHub (or in flight to it)."""
        self._started_at: float | None = None
        self._in_flight: str | None = None
        self._pending: str | None = None
        self._final = False

    @property
    def pending(self) -> str | None:
        return self._pending

    @property
    def in_flight(self) -> str | None:
        return self._in_flight

    @property
    def next_slot(self) -> float:
        """The earliest time the next write may start."""
        if self._started_at is None:
            # Nothing written yet: any time. (Not "now": a real clock has moved on by the
            # time `poll` compares, and the first write waited for a slot forever.)
            return -math.inf
        return self._started_at + self._interval

    def offer(self, body: str, *, final: bool = False) -> Decision:
        """A new picture of the comment; returns whether to write it now or later."""
        if self._final and not final:
            return Decision(Action.SKIP, self._clock(), reason="a final body was already given")
        self._final = self._final or final
        if body == self._pending:
            return self.poll()
        superseded = self._pending is not None
        if body == self._shown:
            self._pending = None
            return Decision(
                Action.SKIP, self._clock(), superseded=superseded, reason="already written"
            )
        self._pending = body
        decision = self.poll()
        return Decision(decision.action, decision.at, decision.body, superseded, decision.reason)

    def poll(self) -> Decision:
        """What to do about the pending body now: WRITE it, or SCHEDULE a later poll."""
        now = self._clock()
        if self._pending is None:
            return Decision(Action.SKIP, now, reason="nothing pending")
        if self._in_flight is not None:
            return Decision(Action.SCHEDULE, self.next_slot, reason="a write is in flight")
        if self.next_slot > now:
            return Decision(Action.SCHEDULE, self.next_slot, reason="waiting for the next slot")
        body, self._pending = self._pending, None
        self._shown = self._in_flight = body
        self._started_at = now
        return Decision(Action.WRITE, now, body)

    def written(self, body: str) -> None:
        """The write of `body` succeeded."""
        if self._in_flight == body:
            self._in_flight = None

    def failed(self, body: str) -> None:
        """The write of `body` did not happen: it is pending again unless a newer body is."""
        if self._in_flight == body:
            self._in_flight = None
        if self._shown == body:
            self._shown = None
        if self._pending is None:
            self._pending = body


class PacedWriter:
    """Drives a `Pacer` with asyncio: `update` returns at once, writes happen in a task.

    `finish(body)` offers the final body and returns once it is written, raising what
    the last write raised if it could not be.
    """

    def __init__(
        self,
        write: Callable[[str], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
    ) -> None:
        self._write = write
        self._clock = clock
        self._sleep = sleep
        self.pacer = Pacer(clock=clock, min_interval_s=min_interval_s)
        self._task: asyncio.Task[None] | None = None
        self._error: Exception | None = None
        self.writes = 0

    def update(self, body: str) -> Decision:
        """Offer a new picture; never waits (the write, now or later, runs in a task)."""
        return self._start(self.pacer.offer(body))

    async def finish(self, body: str) -> None:
        """Offer the final picture and wait until it is on GitHub."""
        self._start(self.pacer.offer(body, final=True))
        await self.flush()

    async def flush(self) -> None:
        """Wait until nothing is pending; raise the write error that left something pending."""
        while not self.idle:
            assert self._task is not None
            await asyncio.wait({self._task})
        if self.pacer.pending is not None and self._error is not None:
            raise self._error

    async def aclose(self) -> None:
        """Stop without writing what is pending (use `finish` to write the last picture)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})

    @property
    def idle(self) -> bool:
        return self._task is None or self._task.done()

    def _start(self, decision: Decision) -> Decision:
        if decision.action is Action.WRITE:
            # Only a drain task asleep can be running now (a write in flight blocks WRITE);
            # its wake-up is due already, so replace it with one that writes at once.
            if not self.idle:
                assert self._task is not None
                self._task.cancel()
            self._task = asyncio.create_task(self._drain(decision))
        elif self.pacer.pending is not None and self.idle:
            self._task = asyncio.create_task(self._drain(None))
        return decision

    async def _drain(self, decision: Decision | None) -> None:
        self._error = None
        while True:
            decision = decision or self.pacer.poll()
            if decision.action is Action.SKIP:
                return
            if decision.action is Action.SCHEDULE:
                await self._sleep(max(0.0, decision.at - self._clock()))
            else:
                assert decision.body is not None
                try:
                    await self._write(decision.body)
                except Exception as exc:
                    # Pending again: the next update or finish tries again at its slot.
                    self.pacer.failed(decision.body)
                    self._error = exc
                    log.warning("progress write failed", error=type(exc).__name__)
                    return
                self.pacer.written(decision.body)
                self.writes += 1
            decision = None
