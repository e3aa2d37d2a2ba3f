"""The webhook proxy client: deliveries from a smee.io-style channel (WEBHOOK_PROXY_URL).

A laptop cannot be reached by GitHub. The App's webhook URL then points at a channel
(https://smee.io/new makes one); the channel relays each delivery as a server-sent event
whose data is a JSON object: the delivery's headers with lower-cased names
(`x-github-event`, `x-github-delivery`, `x-hub-signature-256`, …), `body` (the payload,
parsed), and `query` and `timestamp`. Each event goes through `accept_delivery`: the
signature check, dedupe and storage of POST /webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp import web
from multidict import CIMultiDict

from bot.app.event_stream import EventStreamParser, ServerSentEvent
from bot.app.web import SETTINGS_KEY, WebhookRejected, accept_delivery
from bot.settings import Settings

log = structlog.get_logger(__name__)

IDLE_TIMEOUT_S = 90.0
"""smee.io sends a ping every 30 s: this long without a byte means the connection is dead
(a laptop that slept keeps a half-open socket that would otherwise wait forever)."""
CONNECT_TIMEOUT_S = 30.0
RECONNECT_BASE_S = 1.0
"""Wait before reconnecting when the server has not set one with `retry:`."""
RECONNECT_MAX_S = 60.0
"""Longest wait between attempts while the channel stays unreachable."""

_NOT_HEADERS = frozenset({"body", "query", "timestamp", "rawdata"})
_ESCAPE = re.compile(r"\\(\\|u[0-9a-f]{4})")


class MalformedEvent(ValueError):
    """A channel event that is not a relayed delivery."""


class ChannelRefused(Exception):
    """The channel answered, but not with an event stream (a wrong URL, a server error)."""


@dataclass(frozen=True)
class RelayedDelivery:
    headers: CIMultiDict[str]
    candidates: tuple[bytes, ...]
    """Byte strings the sender may have signed, the most faithful first."""

    def signed_body(self, secret: str | None) -> bytes:
        """The candidate the X-Hub-Signature-256 header is a MAC of, else the first one (which
        `accept_delivery` then refuses, as /webhook refuses a mis-signed body)."""
        signature = self.headers.get("X-Hub-Signature-256", "")
        if secret and signature.startswith("sha256="):
            for body in self.candidates:
                digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                if hmac.compare_digest(f"sha256={digest}", signature):
                    return body
        return self.candidates[0]


def relayed_delivery(data: str) -> RelayedDelivery:
    """Read one channel event's data.

    Which bytes are verified, and why that is sound: GitHub signs the raw body it sends.
    smee.io parses that body as JSON and relays the parsed object; smee-client then POSTs
    `JSON.stringify(body)` and Probot verifies the signature over those bytes. For the
    compact, UTF-8 JSON GitHub sends, the re-serialisation is the same bytes, except that
    GitHub writes the \\u escapes of control characters in upper case where JavaScript
    writes lower case (octokit/webhooks.js#71), so both spellings are tried. Some smee
    servers also relay the raw body (`rawdata`): tried first, it is exactly what was signed.
    Whatever candidate matches, the HMAC is checked over those exact bytes and those bytes,
    not the relayed object, are what is stored and acted on: the relay cannot change
    anything without the secret. It can drop or replay deliveries, as anyone who captured
    one can replay it to /webhook; the delivery-id dedupe answers that in both cases. A
    payload the re-serialisation cannot reproduce (a float such as 1e-7, which Python
    spells 1e-07) fails the check and is refused, never accepted unsigned.

    Raises:
        MalformedEvent: the data is not a JSON object with a body.
    """
    try:
        relayed = json.loads(data)
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"event data is not JSON ({exc.msg})") from None
    if not isinstance(relayed, dict) or "body" not in relayed:
        raise MalformedEvent("event data has no delivery body")
    headers: CIMultiDict[str] = CIMultiDict(
        (name, value)
        for name, value in relayed.items()
        if name not in _NOT_HEADERS and isinstance(value, str)
    )
    # smee-client always forwards as JSON; the sender's own content type, when relayed,
    # still decides, so a form-encoded webhook is refused here as on /webhook.
    headers.setdefault("Content-Type", "application/json")
    stringified = js_stringify(relayed["body"])
    candidates = [stringified, _upper_escapes(stringified)]
    if isinstance(relayed.get("rawdata"), str):
        candidates.insert(0, relayed["rawdata"].encode("utf-8", errors="surrogatepass"))
    return RelayedDelivery(headers, tuple(dict.fromkeys(candidates)))


def js_stringify(value: Any) -> bytes:
    """`JSON.stringify(value)` as JavaScript spells it: compact, non-ASCII as UTF-8, lone
    surrogates as lower-case \\u escapes (the last is what `backslashreplace` writes)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", errors="backslashreplace")


def _upper_escapes(body: bytes) -> bytes:
    text = body.decode("utf-8", errors="surrogatepass")
    upper = _ESCAPE.sub(lambda m: m[0] if m[1] == "\\" else "\\u" + m[1][1:].upper(), text)
    return upper.encode("utf-8", errors="surrogatepass")


def shown(url: str) -> str:
    """A channel URL for a log line: whoever holds the whole URL can read every delivery."""
    parts = urlsplit(url)
    head, _, channel = parts.path.rpartition("/")
    if len(channel) > 8 and channel != "webhook":
        channel = channel[:4] + "…"
    return f"{parts.scheme}://{parts.netloc}{head}/{channel}"


def reconnect_delay(retry_ms: int | None, failures: int) -> float:
    """The server's `retry:` (else a second) after a connection that worked; doubled for
    each attempt in a row that failed, up to a minute."""
    base = RECONNECT_BASE_S if retry_ms is None else retry_ms / 1000
    return min(RECONNECT_MAX_S, base * 2 ** max(failures - 1, 0))


class WebhookProxy:
    """Consumes the channel until cancelled, reconnecting with backoff."""

    def __init__(self, url: str, app: web.Application) -> None:
        self.url = url
        self.app = app
        self.parser = EventStreamParser(max_event_bytes=3 * app[SETTINGS_KEY].max_body_bytes)
        self.connections = 0
        self._heard = self._open = False

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT_S, sock_read=IDLE_TIMEOUT_S)
        failures = 0
        # trust_env: HTTPS_PROXY and friends apply, as they do to smee-client.
        async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:
            while True:
                try:
                    await self._consume(session)
                    reason = "the channel closed the stream"
                except (aiohttp.ClientError, TimeoutError, ChannelRefused) as exc:
                    reason = str(exc) or type(exc).__name__
                # A connection that delivered anything was healthy: start backing off afresh.
                failures = 0 if self._heard else failures + 1
                delay = reconnect_delay(self.parser.retry_ms, failures)
                lost = "disconnected" if self._open else "cannot connect"
                log.warning(
                    f"webhook proxy {lost}: {shown(self.url)}",
                    reason=reason,
                    reconnect_in_s=round(delay, 3),
                )
                await asyncio.sleep(delay)

    async def _consume(self, session: aiohttp.ClientSession) -> None:
        """One connection, until it ends."""
        # smee.io answers a plain GET with its web page: Accept must be exactly this.
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.parser.last_event_id:
            headers["Last-Event-ID"] = self.parser.last_event_id
        self.parser.reconnected()
        self._heard = self._open = False
        async with session.get(self.url, headers=headers) as response:
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            if response.status != 200 or content_type != "text/event-stream":
                raise ChannelRefused(
                    f"HTTP {response.status}, {content_type or 'no content type'}; "
                    "check WEBHOOK_PROXY_URL (https://smee.io/new makes a channel)"
                )
            self._open = True
            self.connections += 1
            again = "connected" if self.connections == 1 else "reconnected"
            log.info(f"webhook proxy {again}: {shown(self.url)}")
            async for chunk in response.content.iter_any():
                oversized = self.parser.oversized
                for event in self.parser.feed(chunk):
                    self._heard = True
                    await self._handle(event)
                if self.parser.oversized > oversized:
                    log.warning(
                        "webhook proxy event dropped: larger than the limit",
                        limit_bytes=self.parser.max_event_bytes,
                    )

    async def _handle(self, event: ServerSentEvent) -> None:
        if event.type != "message":
            return  # smee.io's `ready` and `ping` keep the connection alive; nothing to do
        # Finished even when serve stops meanwhile: the inbox's store is one atomic step,
        # bounded by its deadline, and the channel will not send this event again.
        handling = asyncio.ensure_future(self._deliver(event))
        try:
            await asyncio.shield(handling)
        except asyncio.CancelledError:
            await handling
            raise

    async def _deliver(self, event: ServerSentEvent) -> None:
        try:
            delivery = relayed_delivery(event.data)
        except MalformedEvent as exc:
            log.warning(
                "webhook proxy event dropped", reason=str(exc), event_id=event.last_event_id
            )
            return
        secret = self.app[SETTINGS_KEY].webhook_secret
        try:
            await accept_delivery(self.app, delivery.headers, delivery.signed_body(secret))
        except WebhookRejected as rejected:
            log.warning(
                "webhook proxy event rejected",
                status=rejected.status,
                reason=rejected.reason,
                delivery_id=delivery.headers.get("X-GitHub-Delivery"),
                github_event=delivery.headers.get("X-GitHub-Event"),
            )


def start(settings: Settings, app: web.Application) -> list[asyncio.Task[None]]:
    """The proxy's task when WEBHOOK_PROXY_URL is set (cancel it to stop)."""
    if settings.webhook_proxy_url is None:
        return []
    proxy = WebhookProxy(settings.webhook_proxy_url, app)
    task = asyncio.create_task(proxy.run(), name="webhook-proxy")
    task.add_done_callback(_report_end)
    return [task]


def _report_end(task: asyncio.Task[None]) -> None:
    # run() only ends by a bug: say so, or deliveries would stop with nothing in the log.
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("webhook proxy stopped: no more deliveries", exc_info=error)
