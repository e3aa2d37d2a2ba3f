"""The permission gate: write, maintain or admin may steer AIOS; readers, strangers and bots not."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import gidgethub
import pytest
import redis.asyncio

from bot.github.client import GitHubClient, RetryPolicy
from bot.github.permissions import can_steer, has_write_access, is_bot
from bot.github.sessions import installation_client
from bot.settings import Settings
from bot.testbed.github import FakeGitHub
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.state import AppIdentity

PERMISSION_PATH = "/repos/octo-org/hello/collaborators/{}/permission"


@pytest.mark.parametrize(
    ("login", "user_type", "expected"),
    [
        ("alice", "User", False),
        ("alice", None, False),
        ("dependabot[bot]", "Bot", True),
        ("aios[bot]", None, True),
        ("Renovate[BOT]", None, True),
        ("robot", "Bot", True),
        ("botanist", "User", False),
    ],
)
def test_is_bot(login: str, user_type: str | None, expected: bool) -> None:
    assert is_bot(login, user_type) is expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"permission": "admin", "role_name": "admin"}, True),
        ({"permission": "write", "role_name": "maintain"}, True),
        ({"permission": "write", "role_name": "write"}, True),
        ({"permission": "read", "role_name": "triage"}, False),
        ({"permission": "read", "role_name": "read"}, False),
        ({"permission": "none", "role_name": ""}, False),
        # custom repository roles: the legacy `permission` names the base they extend
        ({"permission": "write", "role_name": "release-manager"}, True),
        ({"permission": "read", "role_name": "issue-wrangler"}, False),
        ({}, False),
    ],
)
def test_write_access_reads_role_name_and_legacy_permission(
    answer: dict[str, Any], expected: bool
) -> None:
    assert has_write_access(answer) is expected


async def _noop_sleep(seconds: float) -> None:
    pass


@pytest.fixture
async def gh(github_fake: FakeGitHub, aredis: redis.asyncio.Redis) -> AsyncIterator[GitHubClient]:
    settings = Settings(
        app_id=github_fake.app_id,
        private_key=github_fake.private_key_pem,
        github_api_url=github_fake.url,
    )
    policy = RetryPolicy(max_attempts=2)
    async with installation_client(settings, aredis, 1, policy=policy, sleep=_noop_sleep) as client:
        yield client


async def steer(gh: GitHubClient, aredis: redis.asyncio.Redis, login: str, **kwargs: Any) -> bool:
    return await can_steer(gh, aredis, owner="octo-org", repo="hello", login=login, **kwargs)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("admin", True),
        ("maintain", True),
        ("write", True),
        ("triage", False),
        ("read", False),
        ("none", False),
    ],
)
async def test_roles(
    github_fake: FakeGitHub,
    gh: GitHubClient,
    aredis: redis.asyncio.Redis,
    role: str,
    allowed: bool,
) -> None:
    github_fake.set_permission("octo-org/hello", "carol", role)
    assert await steer(gh, aredis, "carol") is allowed


async def test_alice_writes_bob_reads(
    github_fake: FakeGitHub, gh: GitHubClient, aredis: redis.asyncio.Redis
) -> None:
    assert await steer(gh, aredis, "alice", user_type="User") is True
    assert await steer(gh, aredis, "bob", user_type="User") is False
    assert len(github_fake.calls("GET", PERMISSION_PATH.format("alice"))) == 1
    assert len(github_fake.calls("GET", PERMISSION_PATH.format("bob"))) == 1


async def test_a_stranger_is_refused(
    github_fake: FakeGitHub, gh: GitHubClient, aredis: redis.asyncio.Redis
) -> None:
    github_fake.non_collaborator_permission = None  # GitHub answers 404: not a collaborator
    assert await steer(gh, aredis, "mallory") is False
    [call] = github_fake.calls("GET", PERMISSION_PATH.format("mallory"))
    assert call.status == 404


async def test_bots_and_the_app_itself_are_refused_without_asking(
    github_fake: FakeGitHub, gh: GitHubClient, aredis: redis.asyncio.Redis
) -> None:
    # Even with write access: a bot's label or comment must never start work.
    github_fake.set_permission("octo-org/hello", "deploy-bot", "admin")
    assert await steer(gh, aredis, "deploy-bot", user_type="Bot") is False
    assert await steer(gh, aredis, "dependabot[bot]") is False
    assert await steer(gh, aredis, github_fake.bot_login, app_slug=github_fake.slug) is False
    assert github_fake.requests == []


async def test_answers_are_cached_yes_and_no(
    github_fake: FakeGitHub, gh: GitHubClient, aredis: redis.asyncio.Redis
) -> None:
    for _ in range(3):
        assert await steer(gh, aredis, "alice") is True
        assert await steer(gh, aredis, "Bob") is False
    assert await steer(gh, aredis, "ALICE") is True  # logins are case-insensitive

    permission_calls = [r for r in github_fake.requests if r.path.endswith("/permission")]
    assert len(permission_calls) == 2


async def test_the_cache_expires(
    github_fake: FakeGitHub, gh: GitHubClient, aredis: redis.asyncio.Redis
) -> None:
    assert await steer(gh, aredis, "bob", cache_ttl_s=60) is False
    ttl = await aredis.ttl("aios:gh:perm:octo-org/hello:bob")
    assert 55 <= ttl <= 60
    github_fake.set_permission("octo-org/hello", "bob", "write")
    await aredis.delete("aios:gh:perm:octo-org/hello:bob")  # what the TTL does, a minute on
    assert await steer(gh, aredis, "bob") is True


async def test_a_github_failure_is_raised_and_not_cached(
    github_fake: FakeGitHub, gh: GitHubClient, aredis: redis.asyncio.Redis
) -> None:
    github_fake.fail_next("GET", PERMISSION_PATH.format("alice"), 502, times=2)
    with pytest.raises(gidgethub.GitHubBroken):
        await steer(gh, aredis, "alice")
    assert await steer(gh, aredis, "alice") is True


@pytest.fixture
def ghes_fake(
    openapi_checker: OpenAPIChecker, github_app_identity: AppIdentity
) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(
        openapi_checker, app=dataclasses.replace(github_app_identity), prefix="/api/v3"
    )
    fake.add_installation(1, "octo-org", ["octo-org/hello"])
    fake.set_permission("octo-org/hello", "alice", "maintain")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    assert fake.violations == []


async def test_github_enterprise_server_under_api_v3(
    ghes_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    assert ghes_fake.url.endswith("/api/v3")
    settings = Settings(
        app_id=ghes_fake.app_id,
        private_key=ghes_fake.private_key_pem,
        github_api_url=ghes_fake.url,
    )
    async with installation_client(settings, aredis, 1) as gh:
        assert await steer(gh, aredis, "alice") is True
        assert await steer(gh, aredis, "bob") is False

    assert [(r.method, r.path, r.status) for r in ghes_fake.requests] == [
        ("POST", "/app/installations/1/access_tokens", 201),
        ("GET", PERMISSION_PATH.format("alice"), 200),
        ("GET", PERMISSION_PATH.format("bob"), 200),
    ]
