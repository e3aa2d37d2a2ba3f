"""WEBHOOK_PROXY_URL: deliveries relayed by a smee.io-style channel reach `aios serve` through
the same signature check, dedupe and storage as POST /webhook; the App's webhook URL follows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import structlog

from bot.app import embedded_redis
from bot.app.event_stream import EventStreamParser, ServerSentEvent
from bot.app.hook_config import sync_hook_url
from bot.app.webhook_proxy import (
    MalformedEvent,
    js_stringify,
    reconnect_delay,
    relayed_delivery,
    shown,
)
from bot.inbox.deliveries import STREAM_KEY
from bot.settings import Settings
from bot.testbed import webhooks
from bot.testbed.github import FakeGitHub, app_events
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from tests.fakes.smee import SmeeChannel, js_json
from tests.serve_harness import REPO, Serve, spawn_serve, stop_serve, wait_for

SECRET = "It's a Secret to Everybody"


# -- the event stream ------------------------------------------------------------------------


def parse_in_chunks(stream: bytes, size: int, *, limit: int = 1024) -> list[ServerSentEvent]:
    parser = EventStreamParser(max_event_bytes=limit)
    events: list[ServerSentEvent] = []
    for start in range(0, len(stream), size):
        events += parser.feed(stream[start : start + size])
    return events


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_events_come_out_whole_however_the_bytes_are_cut(size: int) -> None:
    stream = (
        b"\xef\xbb\xbfretry: 250\r\n: a keep-alive comment\r\n"
        b"id: 1\r\nevent: ready\r\ndata: {}\r\n\r\n"
        b"id: 2\ndata: first line\ndata:second\r\r"
        b"data: no id of its own\n\n"
        b"event: ping\n\n"  # no data: nothing to dispatch
    )
    assert parse_in_chunks(stream, size) == [
        ServerSentEvent("ready", "{}", "1"),
        ServerSentEvent("message", "first line\nsecond", "2"),
        ServerSentEvent("message", "no id of its own", "2"),
    ]


def test_an_event_cut_off_by_a_lost_connection_is_dropped_with_its_id() -> None:
    parser = EventStreamParser(max_event_bytes=1024)
    assert parser.feed(b'id: 1\ndata: a\n\nid: 2\ndata: {"half') == [
        ServerSentEvent("message", "a", "1")
    ]
    parser.reconnected()
    assert parser.last_event_id == "1"  # what a reconnect resumes from
    assert parser.feed(b"retry: 5\ndata: b\n\n") == [ServerSentEvent("message", "b", "1")]
    assert parser.retry_ms == 5


def test_an_oversized_event_is_dropped_and_the_next_one_arrives() -> None:
    stream = b"data: " + b"x" * 300 + b"\ndata: more\n\ndata: small\n\n"
    parser = EventStreamParser(max_event_bytes=64)
    events = [e for start in range(0, len(stream), 10) for e in parser.feed(stream[start:][:10])]
    assert events == [ServerSentEvent("message", "small", "")]
    assert parser.oversized == 1


# -- which bytes are verified ----------------------------------------------------------------


def relayed_by_smee(headers: dict[str, str], body: bytes, **extra: Any) -> str:
    """The event data smee.io writes for a delivery GitHub POSTed to it."""
    relayed = {k.lower(): v for k, v in headers.items()} | {"body": json.loads(body)}
    return js_json(relayed | {"query": {}, "timestamp": 1700000000000, **extra})


def github_bytes(payload: dict[str, Any]) -> bytes:
    """A body as GitHub sends it: compact UTF-8 JSON, \\u escapes in upper case."""
    return js_stringify(payload).replace(b"\\u001b", b"\\u001B")


@pytest.mark.parametrize(
    "title",
    [
        "Plain ASCII",
        "Café ☕ <b>&amp; 𝄞",
        "a tab\tand an escape \u001b[0m",
        "lone \ud800 surrogate",
    ],
)
def test_the_relayed_body_is_the_signed_bytes_again(title: str) -> None:
    body = github_bytes({"action": "labeled", "issue": {"title": title, "number": 7}})
    headers = webhooks.delivery_headers("issues", body, SECRET)

    delivery = relayed_delivery(relayed_by_smee(headers, body))

    assert delivery.signed_body(SECRET) == body
    assert delivery.headers["X-GitHub-Event"] == "issues"  # names looked up in any case
    assert delivery.headers["Content-Type"] == "application/json"


def test_a_relayed_raw_body_is_verified_as_it_was_sent() -> None:
    body = b'{\n  "action": "labeled",  "number": 1.0\n}'  # not what JSON.stringify writes
    headers = webhooks.delivery_headers("issues", body, SECRET)
    delivery = relayed_delivery(relayed_by_smee(headers, body, rawdata=body.decode()))
    assert delivery.signed_body(SECRET) == body


def test_a_mis_signed_body_is_handed_on_as_relayed_to_be_refused() -> None:
    body = github_bytes({"action": "labeled"})
    headers = webhooks.delivery_headers("issues", body, "another secret")
    delivery = relayed_delivery(relayed_by_smee(headers, body))
    assert delivery.signed_body(SECRET) == body  # the bytes; accept_delivery refuses the MAC
    assert delivery.signed_body(None) == body


@pytest.mark.parametrize("data", ["not json", "[1]", '{"x-github-event": "issues"}'])
def test_an_event_that_relays_no_delivery_is_malformed(data: str) -> None:
    with pytest.raises(MalformedEvent):
        relayed_delivery(data)


def test_reconnects_wait_the_servers_retry_then_back_off() -> None:
    assert reconnect_delay(None, 0) == 1.0
    assert reconnect_delay(20, 0) == reconnect_delay(20, 1) == 0.02
    assert reconnect_delay(20, 4) == 0.16
    assert reconnect_delay(None, 30) == 60.0


def test_a_channel_url_is_masked_in_log_lines() -> None:
    assert shown("https://smee.io/Zq1wX9yT8uV7") == "https://smee.io/Zq1w…"
    assert shown("https://aios.example.org/webhook") == "https://aios.example.org/webhook"


# -- `aios serve` with WEBHOOK_PROXY_URL -----------------------------------------------------


@pytest.fixture
def channel() -> Iterator[SmeeChannel]:
    with SmeeChannel() as channel:
        yield channel


@pytest.fixture
def proxied_serve(github_fake: FakeGitHub, channel: SmeeChannel, tmp_path: Path) -> Iterator[Serve]:
    """`aios serve` without workers (deliveries stay in the inbox to be counted), taking
    deliveries from the channel; the App's webhook URL is an old tunnel's at first."""
    github_fake.set_hook_config(url="https://old-tunnel.example.org/webhook")
    with LoopbackLLM(ScriptedModel([])) as llm:
        serve = spawn_serve(
            github_fake, llm, tmp_path, workers=0, env={"WEBHOOK_PROXY_URL": channel.url}
        )
        try:
            wait_for(lambda: channel.open_connections() == 1, "the proxy to connect")
            yield serve
        finally:
            stop_serve(serve)


def stored(serve: Serve) -> list[str]:
    """Delivery ids in the inbox of `serve`'s embedded Redis, in arrival order."""
    url = embedded_redis.discover(serve.data_dir / "redis")
    assert url is not None
    with redis.Redis.from_url(url) as client:
        return [fields[b"id"].decode() for _, fields in client.xrange(STREAM_KEY)]


def labeled(github_fake: FakeGitHub, title: str = "Add pagination") -> dict[str, Any]:
    issue = github_fake.add_issue(REPO, title)
    return app_events.issue_labeled(github_fake, REPO, issue.number, "aios")


def signed(
    payload: dict[str, Any], secret: str, delivery_id: str | None = None
) -> tuple[dict[str, str], bytes]:
    body = js_stringify(payload)
    return webhooks.delivery_headers("issues", body, secret, delivery_id), body


def test_a_delivery_relayed_by_the_channel_is_stored_and_the_app_points_at_the_channel(
    github_fake: FakeGitHub, channel: SmeeChannel, proxied_serve: Serve
) -> None:
    github_fake.webhook_url = channel.url  # GitHub itself POSTs to the channel, signed
    delivery = github_fake.deliver("issues", labeled(github_fake, "Secret roadmap item"))
    assert delivery.status_code == 200

    wait_for(lambda: stored(proxied_serve) == [delivery.guid], "the delivery to be stored")
    wait_for(lambda: github_fake.state.hook_config.url == channel.url, "the hook URL to change")
    assert len(github_fake.calls("PATCH", r"^/app/hook/config$")) == 1
    log = proxied_serve.log.read_text()
    assert f"webhook proxy connected: {shown(channel.url)}" in log
    assert "event dropped" not in log  # `ready` is a keep-alive, not a malformed delivery
    old = "https://old-tunnel.example.org/webhook"
    assert f"App webhook URL changes: {old} → {shown(channel.url)}" in log
    # The channel URL lets anyone read the deliveries: it stays out of the log, as do they.
    for secret in (channel.url, "Secret roadmap item", github_fake.webhook_secret):
        assert secret not in log


def test_unsigned_and_mis_signed_deliveries_are_refused_and_logged(
    github_fake: FakeGitHub, channel: SmeeChannel, proxied_serve: Serve
) -> None:
    forged_headers, forged = signed(labeled(github_fake), "a guessed secret")
    unsigned_headers, unsigned = signed(labeled(github_fake), github_fake.webhook_secret)
    del unsigned_headers["X-Hub-Signature-256"]
    good_headers, good = signed(labeled(github_fake), github_fake.webhook_secret)
    for headers, body in ((forged_headers, forged), (unsigned_headers, unsigned)):
        channel.relay(headers, body)
    channel.relay(good_headers, good)

    # Events are handled in order: once the good one is stored, the others were refused.
    wait_for(lambda: stored(proxied_serve) != [], "the good delivery to be stored")
    assert stored(proxied_serve) == [good_headers["X-GitHub-Delivery"]]
    lines = proxied_serve.log.read_text().splitlines()
    rejected = [line for line in lines if "webhook proxy event rejected" in line]
    assert len(rejected) == 2, rejected
    assert "signature does not match the payload" in rejected[0]
    assert forged_headers["X-GitHub-Delivery"] in rejected[0]
    assert "missing X-Hub-Signature-256 header" in rejected[1]


def test_a_connection_lost_mid_event_is_reopened_and_the_next_delivery_arrives(
    github_fake: FakeGitHub, channel: SmeeChannel, proxied_serve: Serve
) -> None:
    first_headers, first = signed(labeled(github_fake), github_fake.webhook_secret)
    channel.relay(first_headers, first)
    wait_for(lambda: len(stored(proxied_serve)) == 1, "the first delivery to be stored")

    cut_headers, cut = signed(labeled(github_fake), github_fake.webhook_secret)
    data = relayed_by_smee(cut_headers, cut)
    channel.publish_raw(f"id: 999\ndata: {data[: len(data) // 2]}".encode())
    channel.drop()
    wait_for(lambda: channel.open_connections() == 1, "the proxy to reconnect")

    (lost, again) = channel.connections
    # It resumes after the last whole event, not the half one's id.
    assert again.last_event_id == str(lost.sent_ids[-1])
    second_headers, second = signed(labeled(github_fake), github_fake.webhook_secret)
    channel.relay(second_headers, second)
    next_id = second_headers["X-GitHub-Delivery"]
    wait_for(lambda: next_id in stored(proxied_serve), "the next delivery to be stored")
    assert stored(proxied_serve) == [first_headers["X-GitHub-Delivery"], next_id]
    log = proxied_serve.log.read_text()
    assert f"webhook proxy disconnected: {shown(channel.url)}" in log
    assert f"webhook proxy reconnected: {shown(channel.url)}" in log


def test_a_delivery_relayed_twice_is_stored_once(
    github_fake: FakeGitHub, channel: SmeeChannel, proxied_serve: Serve
) -> None:
    delivery_id = str(uuid.uuid4())
    headers, body = signed(labeled(github_fake), github_fake.webhook_secret, delivery_id)
    channel.relay(headers, body)
    channel.relay(headers, body)
    after_headers, after = signed(labeled(github_fake), github_fake.webhook_secret)
    channel.relay(after_headers, after)

    later = after_headers["X-GitHub-Delivery"]
    wait_for(lambda: later in stored(proxied_serve), "the later delivery to be stored")
    assert stored(proxied_serve) == [delivery_id, later]


# -- the App's webhook URL at start ----------------------------------------------------------


def settings_for(github_fake: FakeGitHub, **env: str) -> Settings:
    return Settings.from_env({**github_fake.env(), **env}, dotenv_path=None)


async def test_an_unchanged_webhook_url_is_left_alone(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.set_hook_config(url="https://aios.example.org/webhook")
    settings = settings_for(github_fake, AIOS_PUBLIC_URL="https://aios.example.org/")

    with structlog.testing.capture_logs() as logs:
        assert await sync_hook_url(settings, aredis) is None

    assert len(github_fake.calls("GET", r"^/app/hook/config$")) == 1
    assert github_fake.calls("PATCH", r"^/app/hook/config$") == []
    assert logs == []


async def test_a_changed_public_url_is_pushed_to_the_app_and_said_first(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.set_hook_config(url="https://old-tunnel.example.org/webhook")
    settings = settings_for(github_fake, AIOS_PUBLIC_URL="https://new-tunnel.example.org")

    with structlog.testing.capture_logs() as logs:
        old = await sync_hook_url(settings, aredis)

    assert old == "https://old-tunnel.example.org/webhook"
    (patch,) = github_fake.calls("PATCH", r"^/app/hook/config$")
    assert patch.json == {"url": "https://new-tunnel.example.org/webhook"}
    assert github_fake.state.hook_config.url == "https://new-tunnel.example.org/webhook"
    assert [entry["event"] for entry in logs] == [
        "App webhook URL changes: https://old-tunnel.example.org/webhook"
        " → https://new-tunnel.example.org/webhook"
    ]
