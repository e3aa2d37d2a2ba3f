"""Trouble put in the fake's way: messages of injected errors, requests held unanswered."""

from __future__ import annotations

import asyncio
import re
import threading

from aiohttp import web

FAULT_MESSAGES = {
    401: "Bad credentials",
    403: "You have exceeded a secondary rate limit. Please wait a few minutes before trying again.",
    429: "API rate limit exceeded for installation.",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
}


class Held:
    """Requests matching a pattern wait here instead of being answered (`FakeGitHub.hold`).

    A held request whose caller hangs up (its process was killed) is dropped, never carried
    out; after `release()` waiting and new matching requests are handled as usual.
    """

    def __init__(
        self, method: str, path: re.Pattern[str], body_contains: str, *, armed: bool
    ) -> None:
        self.method, self.path, self.body_contains = method, path, body_contains
        self.arrivals = 0
        self.dropped = 0
        self._armed = threading.Event()
        self._released = threading.Event()
        if armed:
            self.arm()

    def arm(self) -> None:
        """Start holding (from another thread, e.g. when the scripted model answers)."""
        self._armed.set()

    def matches(self, method: str, path: str, raw: bytes) -> bool:
        return (
            self._armed.is_set()
            and not self._released.is_set()
            and method == self.method
            and bool(self.path.search(path))
            and self.body_contains.encode() in raw
        )

    def release(self) -> None:
        self._released.set()

    async def wait(self, request: web.Request) -> bool:
        """Whether the request should be handled (released) or dropped (its caller is gone)."""
        self.arrivals += 1
        while not self._released.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                self.dropped += 1
                return False
            await asyncio.sleep(0.02)
        return True
