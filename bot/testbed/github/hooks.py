"""Webhook deliveries sent by the fake GitHub: signed POSTs, recorded as GitHub lists them."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import aiohttp

from bot.testbed import webhooks
from bot.testbed.github.state import HookDelivery, State

SEND_TIMEOUT_S = 30.0


def delivery_status(code: int) -> str:
    """The `status` text GitHub shows next to a delivery's `status_code`."""
    if 200 <= code < 300:
        return "OK"
    if code == 0:
        return "failed to connect to host"
    return f"Invalid HTTP Response: {code}"


class HookSender:
    """Sends deliveries from the server loop; every attempt becomes a HookDelivery in `state`."""

    def __init__(self, state: State, lock: threading.RLock) -> None:
        self.state = state
        self.lock = lock
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[HookDelivery]] = set()

    async def send(
        self, url: str, event: str, payload: dict[str, Any], original: HookDelivery | None = None
    ) -> HookDelivery:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_S)
            self._session = aiohttp.ClientSession(timeout=timeout)
        guid = original.guid if original else str(uuid.uuid4())
        body = webhooks.encode(payload)
        headers = webhooks.delivery_headers(event, body, self.state.app.webhook_secret, guid)
        started = time.monotonic()
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                code = response.status
        except (aiohttp.ClientError, TimeoutError):
            code = 0
        with self.lock:
            delivery = HookDelivery(
                id=self.state.next_id(),
                guid=guid,
                event=event,
                action=payload.get("action"),
                status_code=code,
                status=delivery_status(code),
                installation_id=(payload.get("installation") or {}).get("id"),
                repository_id=(payload.get("repository") or {}).get("id"),
                redelivery=original is not None,
                duration=round(time.monotonic() - started, 3),
                payload=payload,
            )
            self.state.deliveries.append(delivery)
        return delivery

    def send_later(self, url: str, original: HookDelivery) -> None:
        """Redeliver in the background (GitHub answers the attempts request with 202 at once)."""
        assert original.payload is not None
        coroutine = self.send(url, original.event, original.payload, original)
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, _app: object = None) -> None:
        """Finish pending redeliveries and close the HTTP session (an aiohttp on_cleanup hook)."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=SEND_TIMEOUT_S)
        if self._session is not None:
            await self._session.close()
            self._session = None
