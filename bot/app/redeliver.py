"""`aios redeliver`: ask GitHub to send again every delivery AIOS did not accept.

Deliveries answered 503 while Redis was down are not lost: GitHub keeps them, and
this asks for another attempt (`GET /app/hook/deliveries`, `POST …/attempts`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import structlog

from bot.github.sessions import app_client
from bot.runtime import redis_clients
from bot.runtime.context import redis_url_of
from bot.settings import Settings

log = structlog.get_logger(__name__)


def failed_guids(deliveries: list[dict[str, Any]], *, since: float) -> dict[str, int]:
    """guid → id of its newest attempt, for deliveries no attempt of which was accepted."""
    attempts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for delivery in deliveries:
        attempts[str(delivery["guid"])].append(delivery)
    failed: dict[str, int] = {}
    for guid, tries in attempts.items():
        if any(200 <= int(t.get("status_code") or 0) < 300 for t in tries):
            continue
        newest = max(tries, key=lambda t: _timestamp(t["delivered_at"]))
        if _timestamp(newest["delivered_at"]) >= since:
            failed[guid] = int(newest["id"])
    return failed


async def redeliver_failed(settings: Settings, *, hours: float) -> int:
    since = time.time() - hours * 3600
    client = redis_clients.async_client(redis_url_of(settings))
    try:
        async with app_client(settings, client) as gh:
            recent: list[dict[str, Any]] = []
            async for delivery in gh.getiter("/app/hook/deliveries{?per_page}", {"per_page": 100}):
                recent.append(delivery)
                # Newest first: once past the window, older pages cannot hold anything to redo.
                if _timestamp(delivery["delivered_at"]) < since:
                    break
            to_redo = failed_guids(recent, since=since)
            for guid, delivery_id in to_redo.items():
                await gh.post(
                    "/app/hook/deliveries/{delivery_id}/attempts",
                    {"delivery_id": delivery_id},
                    data=b"",
                )
                log.info("redelivery requested", guid=guid, delivery_id=delivery_id)
    finally:
        await client.aclose()
    return len(to_redo)


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
