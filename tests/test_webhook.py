"""POST /webhook on a real Redis: bad input refused and nothing stored; good input stored once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
import redis.asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue, Worker

from bot.app import embedded_redis
from bot.app.web import create_app
from bot.handlers import build_router
from bot.inbox import deliveries
from bot.settings import Settings
from bot.testbed import webhooks

SECRET = "webhook-test-secret"
Client = TestClient[web.Request, web.Application]


def make_app(url: str, **settings: Any) -> web.Application:
    options: dict[str, Any] = {"webhook_secret": SECRET, "redis_url": url, **settings}
    return create_app(
        Settings(**options),
        redis_client=redis.asyncio.Redis.from_url(url),
        router=build_router(),
    )


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[..., Any]]:
    clients: list[Client] = []

    async def start(url: str, **settings: Any) -> Client:
        client: Client = TestClient(TestServer(make_app(url, **settings)))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def client(client_for: Callable[..., Any], redis_url: str) -> Client:
    return await client_for(redis_url)


def labeled_payload() -> dict[str, Any]:
    payload = webhooks.example("issues", "labeled")
    payload["label"] = {**payload["label"], "name": "aios"}
    # Repository webhook examples lack it; every App delivery carries its installation.
    payload["installation"] = {"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}
    return payload


async def post(
    client: Client,
    payload: dict[str, Any] | bytes,
    *,
    event: str = "issues",
    delivery_id: str | None = None,
    secret: str = SECRET,
    drop: tuple[str, ...] = (),
    **overrides: str,
) -> tuple[int, dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else webhooks.encode(payload)
    headers = webhooks.delivery_headers(event, body, secret, delivery_id)
    headers.update(overrides)
    for name in drop:
        headers.pop(name)
    response = await client.post("/webhook", data=body, headers=headers)
    return response.status, await response.json()


def stored(redis_client: redis.Redis) -> list[deliveries.Delivery]:
    return [
        deliveries.Delivery.from_fields(entry_id.decode(), fields)
        for entry_id, fields in redis_client.xrange(deliveries.STREAM_KEY)
    ]


async def test_a_wanted_delivery_is_stored_and_acknowledged(
    client: Client, redis_client: redis.Redis
) -> None:
    payload = labeled_payload()
    status, answer = await post(client, payload, delivery_id="delivery-1")
    assert (status, answer) == (202, {"status": "accepted"})
    (delivery,) = stored(redis_client)
    assert delivery.delivery_id == "delivery-1"
    assert (delivery.event, delivery.action) == ("issues", "labeled")
    assert delivery.installation_id == payload["installation"]["id"]
    assert json.loads(delivery.body) == payload


async def test_five_concurrent_copies_are_stored_once(
    client: Client, redis_client: redis.Redis
) -> None:
    payload = labeled_payload()
    answers = await asyncio.gather(*(post(client, payload, delivery_id="same") for _ in range(5)))
    assert sorted(status for status, _ in answers) == [200, 200, 200, 200, 202]
    assert [a for s, a in answers if s == 200] == [{"status": "duplicate"}] * 4
    assert len(stored(redis_client)) == 1


async def test_a_redelivery_later_is_a_duplicate(client: Client, redis_client: redis.Redis) -> None:
    assert (await post(client, labeled_payload(), delivery_id="again"))[0] == 202
    assert await post(client, labeled_payload(), delivery_id="again") == (
        200,
        {"status": "duplicate"},
    )
    assert len(stored(redis_client)) == 1


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"secret": "not-the-secret"}, 401, "signature does not match"),
        ({"drop": ("X-Hub-Signature-256",)}, 401, "missing X-Hub-Signature-256"),
        ({"drop": ("X-GitHub-Event",)}, 400, "missing X-GitHub-Event"),
        ({"drop": ("X-GitHub-Delivery",)}, 400, "missing X-GitHub-Delivery"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
    ],
)
async def test_bad_requests_are_refused_and_nothing_is_stored(
    client: Client, redis_client: redis.Redis, change: dict[str, Any], status: int, reason: str
) -> None:
    answer_status, answer = await post(client, labeled_payload(), **change)
    assert answer_status == status
    assert reason in answer["error"]
    assert stored(redis_client) == []


async def test_a_tampered_body_fails_the_signature(
    client: Client, redis_client: redis.Redis
) -> None:
    body = webhooks.encode(labeled_payload())
    headers = webhooks.delivery_headers("issues", body, SECRET)
    response = await client.post("/webhook", data=body.replace(b"aios", b"evil"), headers=headers)
    assert response.status == 401
    assert stored(redis_client) == []


@pytest.mark.parametrize(
    ("body", "reason"), [(b"{not json", "malformed JSON"), (b"[1, 2]", "JSON object")]
)
async def test_malformed_json_is_a_400(
    client: Client, redis_client: redis.Redis, body: bytes, reason: str
) -> None:
    status, answer = await post(client, body)
    assert status == 400
    assert reason in answer["error"]
    assert stored(redis_client) == []


async def test_a_body_over_the_limit_is_a_413(
    client_for: Callable[..., Any], redis_url: str, redis_client: redis.Redis
) -> None:
    small = await client_for(redis_url, max_body_bytes=4096)
    payload = labeled_payload()
    payload["issue"]["body"] = "x" * 5000
    status, answer = await post(small, payload)
    assert status == 413
    assert "larger than 4096 bytes" in answer["error"]
    assert stored(redis_client) == []


async def test_ping_is_answered(client: Client, redis_client: redis.Redis) -> None:
    status, answer = await post(client, webhooks.example("ping"), event="ping")
    assert (status, answer) == (200, {"status": "pong"})
    assert stored(redis_client) == []


@pytest.mark.parametrize(("event", "action"), [("star", "created"), ("issues", "opened")])
async def test_events_no_handler_wants_are_ignored(
    client: Client, redis_client: redis.Redis, event: str, action: str
) -> None:
    status, answer = await post(client, webhooks.example(event, action), event=event)
    assert (status, answer) == (200, {"status": "ignored"})
    assert stored(redis_client) == []


async def test_redis_down_is_a_503_and_stores_nothing(client_for: Callable[..., Any]) -> None:
    dead = await client_for(f"redis://127.0.0.1:{embedded_redis.free_port()}/0")
    status, answer = await post(dead, labeled_payload())
    assert status == 503
    assert "storage unavailable" in answer["error"]


async def test_without_a_webhook_secret_deliveries_are_refused(
    client_for: Callable[..., Any], redis_url: str, redis_client: redis.Redis
) -> None:
    unconfigured = await client_for(redis_url, webhook_secret=None)
    status, answer = await post(unconfigured, labeled_payload())
    assert status == 503
    assert "WEBHOOK_SECRET" in answer["error"]
    assert stored(redis_client) == []


async def test_every_official_example_is_answered_without_a_server_error(
    client: Client, webhook_examples: dict[str, list[dict[str, Any]]]
) -> None:
    statuses: dict[int, int] = {}
    for event, examples in webhook_examples.items():
        for payload in examples:
            status, _answer = await post(client, payload, event=event)
            statuses[status] = statuses.get(status, 0) + 1
    assert sum(statuses.values()) > 300
    assert all(status < 500 for status in statuses), statuses
    assert statuses.get(202, 0) >= 2  # installation.created, issues.labeled…


async def test_health_and_readiness(client: Client, redis_client: redis.Redis) -> None:
    assert (await client.get("/healthz")).status == 200
    unready = await client.get("/readyz")
    assert unready.status == 503
    assert "no worker alive" in (await unready.json())["problems"][0]
    worker = Worker([Queue("aios-route", connection=redis_client)], connection=redis_client)
    worker.register_birth()
    try:
        ready = await client.get("/readyz")
        assert ready.status == 200
        assert (await ready.json())["workers"] == 1
    finally:
        worker.register_death()


async def test_metrics_count_deliveries_by_outcome(client: Client) -> None:
    await post(client, labeled_payload(), delivery_id="m-1")
    await post(client, labeled_payload(), delivery_id="m-1")
    await post(client, labeled_payload(), secret="wrong")
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200
    assert (
        'aios_webhook_deliveries_total{action="labeled",event="issues",outcome="accepted"} 1.0'
        in text
    )
    assert 'outcome="duplicate"} 1.0' in text
    assert 'outcome="rejected"} 1.0' in text
    assert "aios_webhook_ack_seconds_bucket" in text
    assert 'aios_queue_depth{queue="deliveries"} 1.0' in text


async def test_an_hmac_sha1_in_the_sha256_header_is_refused(
    client: Client, redis_client: redis.Redis
) -> None:
    """A correct SHA-1 MAC of the body is still a downgrade: only sha256= is accepted."""
    body = webhooks.encode(labeled_payload())
    headers = webhooks.delivery_headers("issues", body, SECRET)
    mac = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    headers["X-Hub-Signature-256"] = f"sha1={mac}"
    response = await client.post("/webhook", data=body, headers=headers)
    assert response.status == 401
    assert "HMAC-SHA256" in (await response.json())["error"]
    assert stored(redis_client) == []
