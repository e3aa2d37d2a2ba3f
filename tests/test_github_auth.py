"""App JWTs and the installation-token cache shared by workers through Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import gidgethub
import httpx2
import jwt
import pytest
import redis.asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.github.auth import (
    TOKEN_INDEX_KEY,
    TOKEN_KEY,
    UNSCOPED,
    AppCredentials,
    AuthError,
    TokenCache,
    app_jwt,
)
from bot.github.client import GitHubClient
from bot.github.scopes import TokenScope
from bot.github.sessions import installation_client
from bot.settings import Settings
from bot.testbed.github import FakeGitHub

NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_jwt_claims_follow_githubs_rules(key_pair: tuple[str, str]) -> None:
    private, public = key_pair
    token = app_jwt(AppCredentials(app_id=4242, private_key=private), now=NOW)

    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token, public, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims["iat"] == NOW - 60
    assert NOW < claims["exp"] <= NOW + 600
    assert claims["iss"] == "4242"


def test_jwt_does_not_verify_with_another_key(key_pair: tuple[str, str]) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    token = app_jwt(AppCredentials(app_id=1, private_key=key_pair[0]))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["RS256"])


def test_credentials_never_show_the_key(key_pair: tuple[str, str]) -> None:
    creds = AppCredentials(app_id=7, private_key=key_pair[0])
    assert "PRIVATE" not in repr(creds)
    assert "PRIVATE" not in str(creds)


def test_credentials_from_settings_without_an_app_explain_the_fix() -> None:
    with pytest.raises(AuthError, match="APP_ID and PRIVATE_KEY"):
        AppCredentials.from_settings(Settings())


@asynccontextmanager
async def worker_cache(
    fake: FakeGitHub, aredis: redis.asyncio.Redis, **kwargs: Any
) -> AsyncIterator[TokenCache]:
    """What one worker process holds: its own HTTP pool and TokenCache, Redis shared."""
    creds = AppCredentials(app_id=fake.app_id, private_key=fake.private_key_pem)
    async with httpx2.AsyncClient() as http:
        yield TokenCache(aredis, creds, GitHubClient(http, base_url=fake.url), **kwargs)


def settings_for(fake: FakeGitHub) -> Settings:
    return Settings(
        app_id=fake.app_id,
        private_key=fake.private_key_pem,
        webhook_secret=fake.webhook_secret,
        github_api_url=fake.url,
    )


async def test_a_token_is_minted_once_and_shared_by_workers(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    async with (
        worker_cache(github_fake, aredis) as first,
        worker_cache(github_fake, aredis) as second,
    ):
        token = await first.token(1)
        assert await second.token(1) == token
        assert await first.token(1) == token

    assert token.startswith("ghs_")
    assert token not in repr(token) and token not in repr({"authorization": token})
    assert github_fake.tokens_issued == 1
    [mint] = github_fake.calls("POST", "/app/installations/1/access_tokens")
    assert mint.auth == "jwt"


async def test_concurrent_requests_for_a_token_mint_one(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    async with (
        worker_cache(github_fake, aredis) as first,
        worker_cache(github_fake, aredis) as second,
    ):
        tokens = await asyncio.gather(*(c.token(1) for c in [first, second] * 5))

    assert len(set(tokens)) == 1
    assert github_fake.tokens_issued == 1
    assert first.mints + second.mints == 1


async def test_a_token_is_renewed_within_renew_before_of_its_expiry(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.token_ttl = 3600
    now = [time.time()]
    async with worker_cache(github_fake, aredis, renew_before_s=300, clock=lambda: now[0]) as cache:
        token = await cache.token(1)
        now[0] += 3600 - 300 - 10  # still outside the renewal window
        assert await cache.token(1) == token
        now[0] += 20  # inside it
        renewed = await cache.token(1)

    assert renewed != token
    assert github_fake.tokens_issued == 2


async def test_a_short_lived_token_is_used_for_half_its_life(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.token_ttl = 200  # shorter than renew_before_s: no mint-per-call
    now = [time.time()]
    async with worker_cache(github_fake, aredis, renew_before_s=300, clock=lambda: now[0]) as cache:
        token = await cache.token(1)
        now[0] += 90
        assert await cache.token(1) == token
        now[0] += 20
        assert await cache.token(1) != token
    assert github_fake.tokens_issued == 2


async def test_invalidate_spares_a_token_another_worker_just_minted(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    async with worker_cache(github_fake, aredis) as cache:
        stale = await cache.token(1)
        await cache.invalidate(1)
        fresh = await cache.token(1)
        await cache.invalidate(1, token=stale)  # a late 401 report about the old token
        assert await cache.token(1) == fresh
        await cache.invalidate(1, token=fresh)
        assert await cache.token(1) not in (stale, fresh)
    assert github_fake.tokens_issued == 3


async def test_forget_installation_drops_its_token(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    scope = TokenScope.of("octo-org/hello", {"issues": "write"})
    async with worker_cache(github_fake, aredis) as cache:
        await cache.token(1)
        await cache.token(1, scope)
        await cache.forget_installation(1)
        assert await aredis.keys("aios:gh:token*") == []
        await cache.token(1)
    assert github_fake.tokens_issued == 3


async def test_tokens_rest_encrypted_under_keys_that_do_not_name_them(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    async with worker_cache(github_fake, aredis) as cache:
        token = await cache.token(1)

    keys = sorted(k.decode() for k in await aredis.keys("*"))
    key = TOKEN_KEY.format(installation_id=1, scope=UNSCOPED)
    assert keys == [key, TOKEN_INDEX_KEY.format(installation_id=1)]
    stored = await aredis.hgetall(key)
    assert all(token.encode() not in value for value in stored.values())
    ttl = await aredis.ttl(key)
    assert 3600 - 300 - 5 <= ttl <= 3600 - 300


async def test_a_rotated_app_key_makes_workers_mint_anew(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    async with worker_cache(github_fake, aredis) as cache:
        await cache.token(1)
    other = AppCredentials(
        app_id=github_fake.app_id, private_key=FakeGitHub.generate_app().private_key_pem
    )
    async with httpx2.AsyncClient() as http:
        rotated = TokenCache(aredis, other, GitHubClient(http, base_url=github_fake.url))
        # The fake still knows the old key only, so minting with the new one is refused:
        # what matters is that the sealed token was not decrypted and reused.
        with pytest.raises(gidgethub.BadRequest) as refused:
            await rotated.token(1)
    assert refused.value.status_code == 401
    assert github_fake.tokens_issued == 1


async def test_an_unknown_installation_is_an_error_not_a_token(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    async with worker_cache(github_fake, aredis) as cache:
        with pytest.raises(gidgethub.BadRequest) as caught:
            await cache.token(999)
    assert caught.value.status_code == 404
    assert await aredis.keys("*") == []


async def test_installation_client_uses_the_shared_token(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    settings = settings_for(github_fake)
    async with installation_client(settings, aredis, 1) as gh:
        repo = await gh.getitem("/repos/{owner}/{repo}", {"owner": "octo-org", "repo": "hello"})
    async with installation_client(settings, aredis, 1) as gh:
        await gh.getitem("/repos/octo-org/hello")

    assert repo["full_name"] == "octo-org/hello"
    assert github_fake.tokens_issued == 1
    assert [r.auth for r in github_fake.calls("GET", "/repos/octo-org/hello")] == [
        "installation:1",
        "installation:1",
    ]
