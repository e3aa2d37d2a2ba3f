"""The durable delivery inbox: the web process appends, workers route each delivery once.

The webhook receiver must answer GitHub in milliseconds and never block its event
loop, so it does not talk to RQ. It runs one Lua script per delivery on async Redis
that dedupes the delivery id and appends the delivery to a stream, atomically. A
pump in each worker process moves stream entries into RQ route jobs through a
consumer group, so an entry a dead pump had read is claimed again by another.
"""

from __future__ import annotations

import asyncio
import hashlib
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

STORE_DEADLINE_S = 8.0
"""Longest a delivery waits to be stored before the answer is 503: GitHub gives up at 10 s."""

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
_ACCEPT_LUA_BYTES = _ACCEPT_LUA.encode()
_CRLF_STREAM_BULK = b"\r\n$%d\r\n%s\r\n" % (len(STREAM_KEY), STREAM_KEY.encode())
"""Ends the seen key's bulk string and adds the stream key's: the same for every delivery."""
_ACCEPT_SHA = hashlib.sha1(_ACCEPT_LUA_BYTES, usedforsecurity=False).hexdigest().encode()


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

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        max_in_flight: int = 1,
        deadline_s: float = STORE_DEADLINE_S,
    ) -> None:
        self._client = client
        self._pending: list[tuple[list[Any], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._in_flight = 0
        self._max_in_flight = max_in_flight
        self._deadline_s = deadline_s
        self._deadline: asyncio.TimerHandle | None = None

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
            redis.RedisError: when Redis is unavailable, or has not answered within the
                deadline (then the delivery may still be stored: a redelivery dedupes).
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
            # One deadline per batch, armed by its first delivery, rather than a timer for
            # each: the others arrived later, so they are answered a little early at worst.
            self._deadline = loop.call_later(self._deadline_s, self._expire, self._pending)
        self._pending.append((args, future))
        self._schedule_flush()
        return await future is not None

    def _expire(self, batch: list[tuple[list[Any], asyncio.Future[Any]]]) -> None:
        """Answer every delivery of `batch` not stored yet: Redis is too slow to wait for."""
        error = redis.TimeoutError(
            f"Redis did not store the delivery within {self._deadline_s:.0f} s"
        )
        for _args, future in batch:
            if not future.done():
                future.set_exception(error)

    def _schedule_flush(self) -> None:
        # While a batch is on its way to Redis the next one gathers: under load batches
        # grow instead of round trips multiplying; a lone delivery goes out next tick.
        if self._scheduled or self._in_flight >= self._max_in_flight or not self._pending:
            return
        self._scheduled = True
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: loop.create_task(self._flush()))

    async def _flush(self) -> None:
        self._scheduled = False
        # Deliveries already answered 503 (their deadline passed) are not sent at all.
        batch = [entry for entry in self._pending if not entry[1].done()]
        self._pending = []
        deadline, self._deadline = self._deadline, None
        if not batch:
            if deadline is not None:
                deadline.cancel()
            return
        self._in_flight += 1
        try:
            results = await self._write(batch)
        finally:
            self._in_flight -= 1
            self._schedule_flush()
        if deadline is not None:
            deadline.cancel()
        for (_args, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _write(self, batch: list[tuple[list[Any], asyncio.Future[Any]]]) -> list[Any]:
        results = await self._send(batch, _ACCEPT_SHA)
        if any(isinstance(r, redis.exceptions.NoScriptError) for r in results):
            # A restarted or flushed Redis forgot the script: load it once, send the batch again
            # (the deliveries that failed with NOSCRIPT stored nothing, the rest dedupe).
            results = await self._send(batch, None)
        return results

    async def _send(
        self, batch: list[tuple[list[Any], asyncio.Future[Any]]], sha: bytes | None
    ) -> list[Any]:
        # One write of all EVALs on one connection, then one reply each. redis-py's Pipeline
        # does the same with several times the Python work per command, and this loop's
        # CPU is what bounds how many deliveries the receiver takes per second.
        command = (b"EVAL", _ACCEPT_LUA_BYTES) if sha is None else (b"EVALSHA", sha)
        # Hand-packed into one buffer: the body dominates the bytes, the per-part Python the
        # CPU, and this is the hottest loop of the receiver.
        head = b"*12\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in (*command, b"2"))
        parts: list[bytes] = []
        for args, _future in batch:
            seen = SEEN_KEY.format(delivery_id=args[0]).encode()
            parts += (head, b"$%d\r\n" % len(seen), seen, _CRLF_STREAM_BULK)
            for arg in args:
                data = arg if isinstance(arg, bytes) else str(arg).encode()
                parts += (b"$%d\r\n" % len(data), data, b"\r\n")
        packed = b"".join(parts)
        pool = self._client.connection_pool
        try:
            connection = await pool.get_connection()
        except redis.RedisError as exc:
            return [exc] * len(batch)
        results: list[Any] = []
        try:
            await connection.send_packed_command(packed, check_health=False)
            for _ in batch:
                try:
                    results.append(await connection.read_response(disable_decoding=True))
                except redis.ResponseError as exc:
                    results.append(exc)
        except (redis.RedisError, OSError) as exc:
            # Some EVALs may have run: those deliveries are stored and answered 503 all the
            # same; GitHub's redelivery of them is then a duplicate. Nothing lost, nothing twice.
            await connection.disconnect()
            error = exc if isinstance(exc, redis.RedisError) else redis.ConnectionError(str(exc))
            results += [error] * (len(batch) - len(results))
        finally:
            await pool.release(connection)
        return results


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
