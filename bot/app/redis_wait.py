"""A worker waits for its Redis with backoff instead of crashing, saying so once in a while."""

from __future__ import annotations

import threading
import time

import redis
import structlog

from bot.app.readiness import redis_unreachable
from bot.runtime import redis_clients

log = structlog.get_logger(__name__)

FIRST_DELAY_S = 0.25
MAX_DELAY_S = 5.0
"""Retries back off to one every 5 s: cheap for a Redis that is down, quick once it is back."""
NOTE_EVERY_S = 30.0
"""At most one log line per this many seconds while Redis stays away."""


def wait_for_redis(
    url: str,
    *,
    stop: threading.Event | None = None,
    max_delay_s: float = MAX_DELAY_S,
    note_every_s: float = NOTE_EVERY_S,
) -> bool:
    """Block until the Redis at `url` answers PING, retrying with exponential backoff.

    Returns False when `stop` was set before Redis answered, True once it does.
    """
    stop = stop or threading.Event()
    client = redis_clients.sync_client(url)
    delay = FIRST_DELAY_S
    noted_at: float | None = None
    try:
        while not stop.is_set():
            try:
                client.ping()
            except redis.RedisError as exc:
                now = time.monotonic()
                if noted_at is None or now - noted_at >= note_every_s:
                    log.warning(
                        f"{redis_unreachable(url, exc)}; this worker waits for it "
                        f"(retrying every {max_delay_s:g} s at most)"
                    )
                    noted_at = now
            else:
                if noted_at is not None:
                    log.info("redis reachable; worker starting", redis=redis_clients.where(url))
                return True
            stop.wait(delay)
            delay = min(max_delay_s, delay * 2)
        return False
    finally:
        client.close()
