"""Pytest fixtures for the shared GitHub fake and the official webhook examples."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiohttp import web
from gidgethub import sansio

from bot.testbed import webhooks
from bot.testbed.github import FakeGitHub
from bot.testbed.github.auth import generate_app
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.state import AppIdentity
from bot.testbed.loopback import LoopbackServer

INSTALLATION_ID = 1
REPO = "octo-org/hello"


@pytest.fixture(scope="session")
def openapi_checker() -> OpenAPIChecker:
    """GitHub's REST description, loaded and indexed once per session."""
    return OpenAPIChecker.load()


@pytest.fixture(scope="session")
def github_app_identity() -> AppIdentity:
    """One App key pair per session: RSA key generation is too slow to repeat per test."""
    return generate_app(app_id=12345, slug="aios")


@pytest.fixture
def github_fake(
    openapi_checker: OpenAPIChecker, github_app_identity: AppIdentity
) -> Iterator[FakeGitHub]:
    """A started fake: App `aios`, installation 1 on octo-org/hello (main), alice=write, bob=read.

    At teardown every request must have matched GitHub's REST description.
    """
    with started_github(openapi_checker, github_app_identity) as fake:
        yield fake


@contextmanager
def started_github(openapi_checker: OpenAPIChecker, identity: AppIdentity) -> Iterator[FakeGitHub]:
    """`github_fake` for a fixture of another scope (one fake for a module's scenarios)."""
    fake = FakeGitHub(openapi_checker, app=dataclasses.replace(identity))
    fake.add_installation(INSTALLATION_ID, "octo-org", [REPO])
    fake.set_permission(REPO, "alice", "write")
    fake.set_permission(REPO, "bob", "read")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    violations = fake.violations
    assert violations == [], "requests the real GitHub would refuse:\n  " + "\n  ".join(violations)


@pytest.fixture(scope="session")
def webhook_examples() -> dict[str, list[dict[str, Any]]]:
    """Official webhook payload examples by event name (treat as read-only, or deep-copy)."""
    return webhooks.load_examples()


@pytest.fixture
def received(github_fake: FakeGitHub) -> Iterator[list[sansio.Event]]:
    """Webhooks the fake delivers to a loopback receiver, verified by gidgethub."""
    events: list[sansio.Event] = []

    async def receive(request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = await request.read()
        events.append(sansio.Event.from_http(headers, body, secret=github_fake.webhook_secret))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/webhook", receive)
    server = LoopbackServer(app)
    server.start()
    github_fake.webhook_url = f"{server.origin}/webhook"
    try:
        yield events
    finally:
        server.stop()
