"""A work horse's "stop after the current step" request, sent by its worker on a warm shutdown.

RQ's warm shutdown waits for the running job to end, which for an agent is minutes away. The
worker sends its horse `STOP_AFTER_STEP`; the agent loop sees `requested()` between steps,
after its checkpoint, and its job is requeued to resume from there on the next start.
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_AFTER_STEP = signal.SIGUSR1
"""Neither RQ nor the sandbox uses it; by default it would kill the horse, so the handler is
installed in the worker before any fork (`install`) and every horse is born with it."""

_requested = False


def install() -> None:
    """Handle `STOP_AFTER_STEP` in this process and in every process it forks from now on."""
    signal.signal(STOP_AFTER_STEP, _on_signal)


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    request()


def request() -> None:
    global _requested
    _requested = True


def requested() -> bool:
    """Whether this process was asked to stop after its current step."""
    return _requested
