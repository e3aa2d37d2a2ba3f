"""Each job's installation token names one repository and the permissions it needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import gidgethub
import httpx2
import pytest
import redis.asyncio
import yaml

from bot.github.auth import AppCredentials, TokenCache
from bot.github.client import GitHubClient
from bot.github.scopes import CODE, TALK, TokenScope
from bot.runtime.catalog import CATALOG, RUN_TASK, RUN_TRIAGE
from bot.runtime.context import WorkerContext
from bot.runtime.queues import JobQueue
from bot.settings import Settings
from bot.testbed.github import FakeGitHub
from bot.testbed.github.permissions import REQUIRED
from bot.testbed.github.server import DEFAULT_ROUTES

ROOT = Path(__file__).resolve().parents[1]
HELLO, OTHER = "octo-org/hello", "octo-org/other"


@pytest.fixture
async def cache(github_fake: FakeGitHub, aredis: redis.asyncio.Redis) -> AsyncIterator[TokenCache]:
    github_fake.add_repo(OTHER)
    with github_fake.lock:
        github_fake.state.installations[1].repos.append(OTHER)
    creds = AppCredentials(github_fake.app_id, github_fake.private_key_pem)
    async with httpx2.AsyncClient() as http:
        yield TokenCache(aredis, creds, GitHubClient(http, base_url=github_fake.url))


async def as_token(fake: FakeGitHub, token: str, path: str) -> int:
    async with httpx2.AsyncClient() as http:
        gh = GitHubClient(http, base_url=fake.url)
        try:
            await gh.getitem(path, oauth_token=token)
        except gidgethub.BadRequest as exc:
            return int(exc.status_code)
    return 200


async def test_a_token_for_repo_a_is_refused_on_repo_b(
    github_fake: FakeGitHub, cache: TokenCache
) -> None:
    github_fake.add_issue(HELLO, "Mine")
    github_fake.add_issue(OTHER, "Not mine")
    token = await cache.token(1, TokenScope.of(HELLO, TALK))
    (minted,) = [t for t in github_fake.state.tokens.values() if t.token == token]
    assert minted.repos == [HELLO] and minted.permissions == {"issues": "write", "metadata": "read"}
    assert await as_token(github_fake, token, f"/repos/{HELLO}/issues/1") == 200
    assert await as_token(github_fake, token, f"/repos/{OTHER}/issues/1") == 404
    whole = await cache.token(1)  # an unscoped token (what AIOS minted before) sees both
    assert await as_token(github_fake, whole, f"/repos/{OTHER}/issues/1") == 200


async def test_a_token_is_refused_what_its_permissions_do_not_cover(
    github_fake: FakeGitHub, cache: TokenCache
) -> None:
    token = await cache.token(1, TokenScope.of(HELLO, TALK))
    assert await as_token(github_fake, token, f"/repos/{HELLO}/contents/README.md") == 403
    assert await as_token(github_fake, token, f"/repos/{HELLO}/pulls") == 403


async def test_scopes_are_cached_apart_and_minted_once_each(
    github_fake: FakeGitHub, cache: TokenCache
) -> None:
    talk, code = TokenScope.of(HELLO, TALK), TokenScope.of(HELLO, CODE)
    first = await cache.token(1, talk)
    assert await cache.token(1, talk) == first
    assert await cache.token(1, code) != first
    assert github_fake.tokens_issued == 2


async def test_github_refuses_permissions_the_installation_lacks(cache: TokenCache) -> None:
    with pytest.raises(gidgethub.BadRequest) as refused:
        await cache.token(1, TokenScope.of(HELLO, {"administration": "write"}))
    assert refused.value.status_code == 422


def test_every_job_declares_what_the_app_has_and_only_pushers_write_code() -> None:
    manifest = yaml.safe_load((ROOT / "github-app-manifest.yml").read_text())
    granted = manifest["default_permissions"]
    levels = {"read": 1, "write": 2}
    # act_on_ticks is a command in a box: a ticked retry may resume a merge, as /aios retry.
    pushers = {"run_task", "run_fix", "report_event", "run_command", "evaluate_ci", "act_on_ticks"}
    pushers.add("carry_out_pending")  # any transition's effects, a merge among them
    for spec in CATALOG:
        for name, level in spec.permissions.items():
            assert levels[level] <= levels[granted[name]], (spec.name, name)
        writes_code = spec.permissions.get("contents") == "write"
        assert writes_code == (spec.name in pushers), spec.name
    assert RUN_TRIAGE.permissions.get("contents") == "read"
    assert "pull_requests" not in RUN_TASK.permissions


async def test_a_job_context_without_a_scope_gets_no_token(
    redis_client: object, aredis: redis.asyncio.Redis
) -> None:
    ctx = WorkerContext(settings=Settings(), redis=aredis, jobs=JobQueue(redis_client))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="no token scope"):
        await ctx.installation_token(1)
    with pytest.raises(RuntimeError, match="no token scope"):
        ctx.github(1)
    ctx.scope_to(HELLO, TALK)
    assert ctx.scope == TokenScope.of(HELLO, TALK)


def test_the_fake_knows_the_permission_of_every_operation_it_serves() -> None:
    served = {name for name, route in DEFAULT_ROUTES.routes.items() if route.auth == "installation"}
    assert served and served <= set(REQUIRED), sorted(served - set(REQUIRED))
