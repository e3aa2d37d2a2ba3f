"""What the scripted model says: turns, failures and hangs, and helpers that write them."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Turn:
    """One model answer: narration text and tool calls `(name, arguments)`."""

    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    output_tokens: int | None = None
    on_serve: Callable[[], None] | None = None
    """Called as the answer is sent: a test acts at exactly the step after this turn."""


@dataclass
class Fail:
    """One error answer, in the provider's error shape."""

    status: int
    error_type: str
    message: str
    code: str | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"retry-after-ms": "1"})


class Hang:
    """A model call that never answers: it stands for a long agent step.

    Served over HTTP only (`LoopbackLLM`). The request is recorded when it arrives; it then
    waits until `release()` (answered with a 500 that consumes no turn) or until its caller
    hangs up, which sets `abandoned`: the process that made the call is gone.
    """

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.abandoned = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    async def wait(self, request: web.Request) -> None:
        self.arrived.set()
        while not self._released.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                self.abandoned.set()
                return
            await asyncio.sleep(0.02)


def call(name: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    return name, arguments


def finish(summary: str) -> Turn:
    return Turn(calls=[call("finish", summary=summary)])


def qa_pass(summary: str = "Looks good: nothing blocking.") -> Turn:
    """The QA agent's answer for a diff with nothing to change."""
    return finish(json.dumps({"verdict": "pass", "summary": summary, "comments": []}))


def qa_changes(summary: str, comments: Iterable[tuple[str, int, str]]) -> Turn:
    """The QA agent asking for changes, with inline remarks `(path, new-file line, body)`."""
    remarks = [{"path": path, "line": line, "body": body} for path, line, body in comments]
    return finish(json.dumps({"verdict": "changes", "summary": summary, "comments": remarks}))


OVERLOADED = Fail(529, "overloaded_error", "Overloaded")
RATE_LIMITED = Fail(
    429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
)
SPEND_LIMIT = Fail(
    429,
    "rate_limit_error",
    "You have reached your specified workspace API usage limits (spend limit). "
    "You will regain access on 2030-01-01.",
)
OPENAI_QUOTA = Fail(
    429,
    "insufficient_quota",
    "You exceeded your current quota, please check your plan and billing details.",
    code="insufficient_quota",
)
