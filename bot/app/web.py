"""The aiohttp app: /webhook verifies, dedupes and stores deliveries; health, metrics, setup, /."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import redis
import redis.asyncio
import structlog
from aiohttp import web
from gidgethub import ValidationFailure, routing, sansio

from bot.app.metrics import WebMetrics
from bot.app.readiness import Readiness, redis_unreachable
from bot.inbox.deliveries import DeliveryInbox
from bot.settings import Settings

log = structlog.get_logger(__name__)

REDIS_KEY = web.AppKey("redis", redis.asyncio.Redis)
INBOX_KEY = web.AppKey("inbox", DeliveryInbox)
METRICS_KEY = web.AppKey("metrics", WebMetrics)
ROUTER_KEY = web.AppKey("router", routing.Router)
SETTINGS_KEY = web.AppKey("settings", Settings)
READINESS_KEY = web.AppKey("readiness", Readiness)
"""What `aios serve` adds to /readyz (its workers, its model); absent, workers are external."""

_STATUS_BODIES = {
    outcome: orjson.dumps({"status": outcome})
    for outcome in ("accepted", "duplicate", "ignored", "pong")
}

WORKERS_SET = "rq:workers"
"""RQ's registry of live workers; /readyz wants at least one."""


class WebhookRejected(Exception):
    """A delivery refused before it was stored; carries the HTTP status and a reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def create_app(
    settings: Settings,
    *,
    redis_client: redis.asyncio.Redis,
    router: routing.Router,
    extra_routes: list[web.AbstractRouteDef] | None = None,
) -> web.Application:
    """Build the web application; it owns no clients beyond the Redis one handed in."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS_KEY] = settings
    app[REDIS_KEY] = redis_client
    app[INBOX_KEY] = DeliveryInbox(redis_client)
    app[METRICS_KEY] = WebMetrics(settings.data_dir)
    app[ROUTER_KEY] = router
    _warn_if_metrics_public(settings)
    app.add_routes(
        [
            web.post("/webhook", receive_webhook),
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics),
            *(extra_routes or []),
        ]
    )
    return app


async def receive_webhook(request: web.Request) -> web.Response:
    """Verify, dedupe and durably store one delivery, answering within milliseconds."""
    started = time.perf_counter()
    try:
        body = await _read_body(request)
    except WebhookRejected as rejected:
        _count(request.app, request.headers, "", "rejected", rejected.status, started)
        return _refused(request, rejected)
    try:
        status, outcome = await accept_delivery(request.app, request.headers, body, started)
    except WebhookRejected as rejected:
        return _refused(request, rejected)
    return web.Response(
        body=_STATUS_BODIES[outcome], status=status, content_type="application/json"
    )


def _refused(request: web.Request, rejected: WebhookRejected) -> web.Response:
    log.warning(
        "webhook rejected",
        status=rejected.status,
        reason=rejected.reason,
        delivery_id=request.headers.get("X-GitHub-Delivery"),
        github_event=request.headers.get("X-GitHub-Event") or None,
    )
    return web.json_response({"error": rejected.reason}, status=rejected.status)


def _count(
    app: web.Application,
    headers: Mapping[str, str],
    action: str,
    outcome: str,
    status: int,
    started: float,
) -> None:
    event_name = headers.get("X-GitHub-Event", "")
    elapsed = time.perf_counter() - started
    app[METRICS_KEY].delivered(event_name, action, outcome, elapsed, status=status)


async def _read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS_KEY].max_body_bytes
        raise WebhookRejected(413, f"payload larger than {limit} bytes") from None


def _verify_and_parse(settings: Settings, headers: Any, body: bytes) -> sansio.Event:
    # The signature comes first: nothing about an unauthenticated request is trusted.
    if settings.webhook_secret is None:
        raise WebhookRejected(503, "WEBHOOK_SECRET is not configured; register the App at /setup")
    signature = headers.get("X-Hub-Signature-256")
    if not signature:
        raise WebhookRejected(401, "missing X-Hub-Signature-256 header")
    # gidgethub also accepts `sha1=` (the legacy X-Hub-Signature): a SHA-1 MAC in the
    # SHA-256 header is a downgrade, never something GitHub sends.
    if not signature.startswith("sha256="):
        raise WebhookRejected(401, "X-Hub-Signature-256 must be an HMAC-SHA256 (sha256=…)")
    try:
        sansio.validate_event(body, signature=signature, secret=settings.webhook_secret)
    except ValidationFailure:
        raise WebhookRejected(401, "signature does not match the payload") from None
    # aiohttp's headers are case-insensitive already, as HTTP says they are.
    for required in ("X-GitHub-Event", "X-GitHub-Delivery"):
        if not headers.get(required):
            raise WebhookRejected(400, f"missing {required} header")
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise WebhookRejected(
            415, "expected content type application/json; set it in the App's webhook settings"
        )
    try:
        # orjson: the payload is parsed on the event loop, and it is 3x faster than json.
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookRejected(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, "payload must be a JSON object")
    return sansio.Event(
        data, event=headers["X-GitHub-Event"], delivery_id=headers["X-GitHub-Delivery"]
    )


async def _store(app: web.Application, event: sansio.Event, body: bytes) -> tuple[int, str]:
    if event.event == "ping":
        return 200, "pong"
    if not app[ROUTER_KEY].fetch(event):
        return 200, "ignored"
    installation = event.data.get("installation") or {}
    try:
        accepted = await app[INBOX_KEY].accept(
            delivery_id=event.delivery_id,
            event=event.event,
            action=str(event.data.get("action") or ""),
            installation_id=installation.get("id"),
            body=body,
        )
    except redis.RedisError as exc:
        log.error(
            "redis unavailable, delivery not accepted",
            error=str(exc),
            delivery_id=event.delivery_id,
        )
        raise WebhookRejected(
            503, "storage unavailable; GitHub will show this delivery as failed"
        ) from None
    if not accepted:
        return 200, "duplicate"
    return 202, "accepted"


async def accept_delivery(
    app: web.Application,
    headers: Mapping[str, str],
    body: bytes,
    started: float | None = None,
) -> tuple[int, str]:
    """Verify, dedupe and store one delivery and count it in the metrics: what POST /webhook
    does with the body it read, and the webhook proxy with each relayed event.

    `headers` must look up names case-insensitively, as aiohttp's request headers do;
    `started` (perf_counter) is when the delivery began to arrive, for the latency metric.

    Returns:
        The status /webhook answers and the outcome (accepted, duplicate, …).

    Raises:
        WebhookRejected: the delivery is refused (and counted as such).
    """
    started = time.perf_counter() if started is None else started
    action = ""
    try:
        event = _verify_and_parse(app[SETTINGS_KEY], headers, body)
        action = str(event.data.get("action") or "")
        status, outcome = await _store(app, event, body)
    except WebhookRejected as rejected:
        _count(app, headers, action, "rejected", rejected.status, started)
        raise
    _count(app, headers, action, outcome, status, started)
    return status, outcome


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready (200) means deliveries can be stored and something will route them; 503 lists
    why not, each with its fix. `agents` says whether agent jobs can call a model: without
    one, webhooks are still accepted and routed, so that alone is no 503."""
    client = request.app[REDIS_KEY]
    readiness = request.app.get(READINESS_KEY) or Readiness()
    problems: list[str] = []
    try:
        await client.ping()
        workers = await client.scard(WORKERS_SET)
    except redis.RedisError as exc:
        url = request.app[SETTINGS_KEY].redis_url
        problems.append(
            redis_unreachable(url, exc, embedded=readiness.embedded_redis)
            if url
            else f"redis unreachable: {exc}"
        )
    else:
        if workers == 0:
            problems.append(readiness.no_worker_registered())
    agents = readiness.agents()
    if problems:
        return web.json_response(
            {"status": "unready", "problems": problems, "agents": agents}, status=503
        )
    return web.json_response({"status": "ready", "workers": workers, "agents": agents})


def _warn_if_metrics_public(settings: Settings) -> None:
    if settings.metrics_token is None:
        log.warning(
            "/metrics is public: anyone who reaches the webhook port can read it; set "
            "AIOS_METRICS_TOKEN to require `Authorization: Bearer <token>`"
        )


async def metrics(request: web.Request) -> web.Response:
    token = request.app[SETTINGS_KEY].metrics_token
    if token is not None and not _bearer_matches(request.headers.get("Authorization"), token):
        return web.Response(
            status=401,
            text="/metrics wants Authorization: Bearer <AIOS_METRICS_TOKEN>\n",
            headers={"WWW-Authenticate": 'Bearer realm="aios-metrics"'},
        )
    try:
        text = await request.app[METRICS_KEY].render(request.app[REDIS_KEY])
    except redis.RedisError as exc:
        return web.Response(status=503, text=f"redis unreachable: {exc}\n")
    return web.Response(body=text, content_type="text/plain", charset="utf-8")


def _bearer_matches(header: str | None, token: str) -> bool:
    """Constant-time, so the answer's timing says nothing about how much of a guess was right."""
    return hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())


def setup_pages(
    settings: Settings, env_path: Path, load: Callable[..., list[web.AbstractRouteDef]]
) -> list[web.AbstractRouteDef]:
    """The status page (/) and the setup pages, registered or not: before registration they
    register the App; after it they name it and offer the model step. An exposed server
    (production, or a public URL) guards them with a one-time code."""
    return load(settings, env_path=env_path, public_url=settings.public_url)
