"""Redis clients with bounded timeouts, and the check that a Redis keeps what AIOS stores in it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
import structlog
from redis.backoff import NoBackoff

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S = 3.0
"""A Redis that has not answered a new connection by then is unreachable: a 2 s slow connect
still gets through, a dead address fails in seconds, well inside GitHub's 10 s."""

COMMAND_TIMEOUT_S = 8.0
"""Longest wait for one answer. A Redis 5 s behind (a fork, a slow disk) still stores the
delivery; the web's own deadline (`bot/inbox/deliveries.py`) answers GitHub before 10 s."""

KEEPS_DATA_POLICY = "noeviction"
"""The only maxmemory-policy under which Redis refuses writes instead of dropping keys."""


def _options(connect_timeout_s: float, command_timeout_s: float | None) -> dict[str, Any]:
    return {
        "socket_connect_timeout": connect_timeout_s,
        "socket_timeout": command_timeout_s,
    }


# redis-py retries 10 times with backoff by default, which stretches a slow Redis into a long
# stall. One immediate retry on a dropped connection (a Redis restart) is enough; a command
# that timed out is not retried: it may have run.


def async_client(
    url: str,
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    command_timeout_s: float | None = COMMAND_TIMEOUT_S,
    **options: Any,
) -> redis.asyncio.Redis:
    """An asyncio client whose every connect and command ends within the given bounds."""
    return redis.asyncio.Redis.from_url(
        url,
        retry=redis.asyncio.retry.Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        **_options(connect_timeout_s, command_timeout_s),
        **options,
    )


def sync_client(
    url: str,
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    command_timeout_s: float | None = COMMAND_TIMEOUT_S,
    **options: Any,
) -> redis.Redis:
    """A blocking client with the same bounds (RQ raises the command timeout of its own
    connection above its blocking dequeue)."""
    return redis.Redis.from_url(
        url,
        retry=redis.retry.Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        **_options(connect_timeout_s, command_timeout_s),
        **options,
    )


def where(url: str) -> str:
    """The URL without credentials, fit for a log line or an error message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def eviction_problem(policy: str | None, url: str) -> str | None:
    """What is wrong with `policy`, in words an operator can act on; None when it keeps data.

    Every policy but noeviction (the `volatile-*` ones too: job results, dedupe keys and
    tokens carry TTLs) lets Redis drop keys when it is full: queued jobs, stored deliveries
    and work items would vanish without an error.
    """
    if policy is None or policy == KEEPS_DATA_POLICY:
        return None
    return (
        f"Redis at {where(url)} has maxmemory-policy {policy}: when it is full it evicts keys, "
        "and AIOS would lose queued jobs, stored deliveries and work items without an error. "
        "Set `maxmemory-policy noeviction` (redis.conf, `CONFIG SET maxmemory-policy "
        "noeviction`, or your provider's parameter settings) and start again."
    )


def maxmemory_policy(info: dict[str, Any]) -> str | None:
    """The policy from `INFO memory`, which managed Redis services answer even when they
    forbid CONFIG."""
    value = info.get("maxmemory_policy")
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def check_keeps_data(client: redis.Redis, url: str) -> str | None:
    """The eviction problem of the Redis behind `client`, or None.

    Raises:
        redis.RedisError: Redis cannot be reached to ask.
    """
    return eviction_problem(maxmemory_policy(client.info("memory")), url)


def startup_problem(url: str) -> str | None:
    """Why a process must not start on the Redis at `url` (it evicts keys), or None.

    A Redis that cannot be reached now is no reason to refuse: the web answers 503 and
    workers wait until it is back. Every worker checks again when it starts.
    """
    client = sync_client(url)
    try:
        return check_keeps_data(client, url)
    except redis.RedisError as exc:
        log.warning("redis unreachable; maxmemory-policy not checked", error=str(exc))
        return None
    finally:
        client.close()
