"""The durable delivery inbox: the web process appends, workers route each delivery once.

The webhook receiver must answer GitHub in milliseconds and never block its event
loop, so it does not talk to RQ. It runs one Lua script per delivery on async Redis
that dedupes the delivery id and appends the delivery to a stream, atomically. A
pump in each worker process moves stream entries into RQ route jobs through a
consumer group, so an entry a dead pump had read is claimed again by another.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

STREAM_KEY = "aios:deliveries"
"""Stream of accepted deliveries: fields id, event, action, installation, received_at, body."""

GROUP = "routers"
"""Consumer group of the pumps that turn stream entries into RQ route jobs."""

SEEN_KEY = "aios:delivery-seen:{delivery_id}"
"""Set once per delivery id; a redelivery that finds it is answered as a duplicate."""

SEEN_TTL_S = 7 * 24 * 3600
"""How long a delivery id is remembered (GitHub keeps deliveries for redelivery about this long)."""

ROUTED_KEY = "aios:delivery-routed:{delivery_id}"
"""Set when a delivery's handlers all finished, so a re-run of its route job does nothing."""

_ACCEPT_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[2], '*',
    'id', ARGV[1], 'event', ARGV[3], 'action', ARGV[4], 'installation', ARGV[5],
    'received_at', ARGV[6], 'body', ARGV[7])
end
return false
"""


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as stored: the raw body is kept so it can be replayed as received."""

    delivery_id: str
    event: str
    action: str
    installation_id: int | None
    received_at: float
    body: bytes
    entry_id: str = ""

    @classmethod
    def from_fields(cls, entry_id: str, fields: dict[bytes, bytes]) -> Delivery:
        installation = fields.get(b"installation", b"").decode()
        return cls(
            delivery_id=fields[b"id"].decode(),
            event=fields[b"event"].decode(),
            action=fields.get(b"action", b"").decode(),
            installation_id=int(installation) if installation else None,
            received_at=float(fields.get(b"received_at", b"0")),
            body=fields[b"body"],
            entry_id=entry_id,
        )


class DeliveryInbox:
    """The web side: accept a verified delivery exactly once, without blocking the loop.

    Deliveries that arrive in the same event-loop tick are written in one pipelined
    round trip: under load this roughly halves the Redis cost per delivery, and a lone
    delivery waits for nothing.
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._client = client
        self._pending: list[tuple[list[Any], asyncio.Future[Any]]] = []

    async def accept(
        self,
        *,
        delivery_id: str,
        event: str,
        action: str,
        installation_id: int | None,
        body: bytes,
    ) -> bool:
        """Store the delivery unless its id was seen; return False for a duplicate.

        Raises:
            redis.RedisError: when Redis is unavailable; nothing was stored.
        """
        args = [
            delivery_id,
            SEEN_TTL_S,
            event,
            action,
            "" if installation_id is None else str(installation_id),
            f"{time.time():.6f}",
            body,
        ]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(lambda: loop.create_task(self._flush()))
        self._pending.append((args, future))
        return await future is not None

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for args, _future in batch:
                    # EVAL, not EVALSHA: no NOSCRIPT round trip after a Redis restart, and
                    # Redis caches the compiled script by its hash anyway.
                    pipe.eval(
                        _ACCEPT_LUA, 2, SEEN_KEY.format(delivery_id=args[0]), STREAM_KEY, *args
                    )
                results = await pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            results = [exc] * len(batch)
        for (_args, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


def ensure_group(client: redis.Redis) -> None:
    """Create the consumer group (and the stream) if they do not exist yet."""
    try:
        client.xgroup_create(STREAM_KEY, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read_new(client: redis.Redis, consumer: str, *, count: int, block_ms: int) -> list[Delivery]:
    """Entries no pump has read yet, claimed for `consumer`."""
    response: Any = client.xreadgroup(
        GROUP, consumer, {STREAM_KEY: ">"}, count=count, block=block_ms
    )
    return [
        _decode(entry_id, fields)
        for _stream, entries in response or []
        for entry_id, fields in entries
    ]


def claim_stale(
    client: redis.Redis, consumer: str, *, min_idle_ms: int, count: int
) -> list[Delivery]:
    """Entries another pump read but never acknowledged (it died): take them over."""
    response: Any = client.xautoclaim(STREAM_KEY, GROUP, consumer, min_idle_ms, "0-0", count=count)
    return [_decode(entry_id, fields) for entry_id, fields in response[1] if fields]


def acknowledge(client: redis.Redis | redis.client.Pipeline, entry_ids: list[str]) -> None:
    if entry_ids:
        client.xack(STREAM_KEY, GROUP, *entry_ids)


async def load(client: redis.asyncio.Redis, entry_id: str) -> Delivery | None:
    """The stored delivery for a stream entry, or None once it was routed and removed."""
    entries = await client.xrange(STREAM_KEY, min=entry_id, max=entry_id)
    if not entries:
        return None
    found_id, fields = entries[0]
    return _decode(found_id, fields)


async def mark_routed(client: redis.asyncio.Redis, delivery: Delivery) -> None:
    """Record that every handler ran, and drop the body: routing is done with it."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(ROUTED_KEY.format(delivery_id=delivery.delivery_id), "1", ex=SEEN_TTL_S)
        pipe.xdel(STREAM_KEY, delivery.entry_id)
        await pipe.execute()


async def was_routed(client: redis.asyncio.Redis, delivery_id: str) -> bool:
    return bool(await client.exists(ROUTED_KEY.format(delivery_id=delivery_id)))


def _decode(entry_id: bytes | str, fields: dict[bytes, bytes]) -> Delivery:
    key = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return Delivery.from_fields(key, fields)
