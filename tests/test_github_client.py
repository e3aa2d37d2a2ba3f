"""The GitHub client's retry policy, rate-limit waits, re-authentication and write serialisation."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import gidgethub
import httpx2
import pytest
import redis.asyncio
import structlog
import structlog.tracebacks

from bot.github.client import (
    WRITE_LOCK_KEY,
    GitHubClient,
    GitHubUnreachable,
    RetryPolicy,
    graphql_url,
)
from bot.github.sessions import app_client, installation_client
from bot.settings import Settings
from bot.testbed.github import FakeGitHub
from tests.cancelling_redis import CancelledAfterTheSet

NOW = 1_700_000_000.0


class RecordingSleep:
    """Stands in for asyncio.sleep: records the pauses the client asked for, waits none."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=5.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("status", "headers", "message", "expected"),
    [
        (403, {"retry-after": "7"}, "You have exceeded a secondary rate limit", 7.0),
        (429, {"Retry-After": "3"}, "", 3.0),
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 42)}, "", 42.0),
        (
            403,
            {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(int(NOW) + 90),
            },
            "API rate limit exceeded",
            90.0,
        ),
        (403, {}, "You have exceeded a secondary rate limit.", 60.0),
        (429, {}, "", 60.0),
        # remaining > 0: the reset belongs to the primary window, not to this secondary limit
        (429, {"x-ratelimit-remaining": "12", "x-ratelimit-reset": str(int(NOW) + 3000)}, "", 60.0),
        (429, {"retry-after": "0"}, "", 0.0),
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}, "", 0.0),
    ],
)
def test_rate_limit_wait_follows_githubs_order(
    status: int, headers: dict[str, str], message: str, expected: float
) -> None:
    assert RetryPolicy().rate_limit_wait(status, headers, message, now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "message"),
    [(403, "Resource not accessible by integration"), (404, "Not Found"), (422, "rate limit")],
)
def test_other_errors_are_not_rate_limits(status: int, message: str) -> None:
    assert RetryPolicy().rate_limit_wait(status, {}, message, now=NOW) is None


def test_secondary_minimum_wait_is_configurable() -> None:
    policy = RetryPolicy(secondary_min_wait_s=120)
    assert policy.rate_limit_wait(403, {}, "secondary rate limit", now=NOW) == 120


@pytest.mark.parametrize(
    ("api", "graphql"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"),
    ],
)
def test_graphql_endpoint_follows_the_api_url(api: str, graphql: str) -> None:
    assert graphql_url(api) == graphql


def free_closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_is_retried_then_a_clear_error_without_credentials() -> None:
    sleep = RecordingSleep()
    statuses: list[tuple[str, int]] = []
    secret = "ghs_" + "s3cr3t" * 6

    class FixedAuth:
        async def authorization(self) -> str:
            return f"token {secret}"

        async def refused(self, authorization: str) -> None:
            raise AssertionError("a connection error is not a refusal")

    async with httpx2.AsyncClient() as http:
        gh = GitHubClient(
            http,
            base_url=f"http://127.0.0.1:{free_closed_port()}/api/v3",
            auth=FixedAuth(),
            policy=RetryPolicy(max_attempts=4, backoff_base_s=0.5),
            sleep=sleep,
            on_response=lambda method, status: statuses.append((method, status)),
        )
        with structlog.testing.capture_logs() as logs, pytest.raises(GitHubUnreachable) as caught:
            await gh.getitem("/repos/octo-org/hello")

    assert sleep.calls == [0.5, 1.0, 2.0]
    assert statuses == [("GET", 0)] * 4
    message = str(caught.value)
    assert "after 4 attempts" in message and "GITHUB_API_URL" in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert secret not in message and secret not in repr(logs)
    # A renderer showing every frame's locals (structlog's dict tracebacks, rich) sees
    # the header dict on the stack, but only the redacted form of the credential in it.
    error = caught.value
    assert error.__traceback__ is not None
    frames = structlog.tracebacks.extract(
        type(error), error, error.__traceback__.tb_next, show_locals=True, locals_max_string=1000
    )
    assert "authorization" in repr(frames)
    assert secret not in repr(frames)


# -- against the shared GitHub fake ------------------------------------------------------------

ISSUE_COMMENTS = "/repos/{owner}/{repo}/issues/{number}/comments"
HELLO = {"owner": "octo-org", "repo": "hello"}


def settings_for(fake: FakeGitHub) -> Settings:
    return Settings(
        app_id=fake.app_id,
        private_key=fake.private_key_pem,
        webhook_secret=fake.webhook_secret,
        github_api_url=fake.url,
    )


class Worker:
    """One simulated worker's client plus what it observed."""

    def __init__(self) -> None:
        self.sleep = RecordingSleep()
        self.responses: list[tuple[str, int]] = []

    def on_response(self, method: str, status: int) -> None:
        self.responses.append((method, status))


@asynccontextmanager
async def worker(
    fake: FakeGitHub,
    aredis: redis.asyncio.Redis,
    policy: RetryPolicy | None = None,
    http: httpx2.AsyncClient | None = None,
) -> AsyncIterator[tuple[GitHubClient, Worker]]:
    seen = Worker()
    async with installation_client(
        settings_for(fake),
        aredis,
        1,
        policy=policy,
        sleep=seen.sleep,
        on_response=seen.on_response,
        http=http,
    ) as gh:
        yield gh, seen


async def test_5xx_is_retried_with_backoff(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.fail_next("GET", "/repos/octo-org/hello", 502, times=2)
    async with worker(github_fake, aredis) as (gh, seen):
        repo = await gh.getitem("/repos/{owner}/{repo}", HELLO)

    assert repo["name"] == "hello"
    assert seen.sleep.calls == [1.0, 2.0]
    assert seen.responses == [("POST", 201), ("GET", 502), ("GET", 502), ("GET", 200)]


async def test_attempts_are_bounded(github_fake: FakeGitHub, aredis: redis.asyncio.Redis) -> None:
    github_fake.fail_next("GET", "/repos/octo-org/hello", 503, times=10)
    async with worker(github_fake, aredis, RetryPolicy(max_attempts=3)) as (gh, seen):
        with pytest.raises(gidgethub.GitHubBroken):
            await gh.getitem("/repos/{owner}/{repo}", HELLO)

    assert len(github_fake.calls("GET", "/repos/octo-org/hello")) == 3
    assert seen.sleep.calls == [1.0, 2.0]


async def test_secondary_rate_limit_waits_for_retry_after(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.add_issue("octo-org/hello", "Paginate users")
    path = "/repos/octo-org/hello/issues/1/comments"
    github_fake.fail_next("POST", path, 403, headers={"Retry-After": "7"})
    async with worker(github_fake, aredis, RetryPolicy(write_spacing_s=0)) as (gh, seen):
        comment = await gh.post(ISSUE_COMMENTS, {**HELLO, "number": 1}, data={"body": "Plan"})

    assert comment["body"] == "Plan"
    assert seen.sleep.calls == [7.0]
    assert [r.status for r in github_fake.calls("POST", path)] == [403, 201]


async def test_rate_limit_with_reset_waits_until_the_reset(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    reset = int(time.time()) + 42
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    github_fake.fail_next("GET", "/repos/octo-org/hello", 429, headers=headers)
    async with worker(github_fake, aredis) as (gh, seen):
        await gh.getitem("/repos/{owner}/{repo}", HELLO)

    [waited] = seen.sleep.calls
    assert 40 < waited <= 42


async def test_secondary_rate_limit_without_headers_waits_a_minute(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.fail_next("GET", "/repos/octo-org/hello", 403)  # "exceeded a secondary rate limit"
    async with worker(github_fake, aredis) as (gh, seen):
        await gh.getitem("/repos/{owner}/{repo}", HELLO)

    assert seen.sleep.calls == [60.0]


async def test_a_forbidden_that_is_not_a_rate_limit_is_raised_at_once(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    body = {"message": "Resource not accessible by integration", "documentation_url": "x"}
    github_fake.fail_next("GET", "/repos/octo-org/hello", 403, body=body)
    async with worker(github_fake, aredis) as (gh, seen):
        with pytest.raises(gidgethub.BadRequest, match="not accessible"):
            await gh.getitem("/repos/{owner}/{repo}", HELLO)

    assert seen.sleep.calls == []


async def test_a_wait_longer_than_the_policy_allows_is_raised(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.fail_next("GET", "/repos/octo-org/hello", 429, headers={"retry-after": "3600"})
    async with worker(github_fake, aredis, RetryPolicy(max_wait_s=900)) as (gh, seen):
        with pytest.raises(gidgethub.BadRequest) as caught:
            await gh.getitem("/repos/{owner}/{repo}", HELLO)

    assert caught.value.status_code == 429
    assert caught.value.headers["retry-after"] == "3600"  # the caller can reschedule with it
    assert seen.sleep.calls == []


async def test_a_spent_quota_is_waited_out_before_the_next_request(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    reset = int(time.time()) + 30
    spent = {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(reset),
    }
    github_fake.fail_next(
        "GET", "/repos/octo-org/hello", 200, headers=spent, body={"name": "hello"}
    )
    async with worker(github_fake, aredis) as (gh, seen):
        await gh.getitem("/repos/{owner}/{repo}", HELLO)
        assert seen.sleep.calls == []
        await gh.getitem("/repos/{owner}/{repo}", HELLO)

    [waited] = seen.sleep.calls
    assert 25 < waited <= 30


async def test_a_refused_token_is_renewed_once_and_the_request_retried(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    with structlog.testing.capture_logs() as logs:
        async with worker(github_fake, aredis) as (gh, _):
            await gh.getitem("/repos/{owner}/{repo}", HELLO)
            github_fake.revoke_tokens()
            repo = await gh.getitem("/repos/{owner}/{repo}", HELLO)

    assert repo["name"] == "hello"
    assert github_fake.tokens_issued == 2
    assert [r.status for r in github_fake.calls("GET", "/repos/octo-org/hello")] == [200, 401, 200]
    assert_no_token_in(github_fake, repr(logs))


async def test_a_second_refusal_is_raised(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.fail_next("GET", "/repos/octo-org/hello", 401, times=2)
    with structlog.testing.capture_logs() as logs:
        async with worker(github_fake, aredis) as (gh, seen):
            with pytest.raises(gidgethub.BadRequest) as caught:
                await gh.getitem("/repos/{owner}/{repo}", HELLO)

    assert caught.value.status_code == 401
    assert github_fake.tokens_issued == 2  # the first and one renewal, no more
    assert seen.sleep.calls == []
    assert_no_token_in(github_fake, repr(logs), str(caught.value), repr(caught.value))


async def test_the_app_client_renews_a_refused_jwt_once(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.fail_next("GET", "/app", 401)
    async with app_client(settings_for(github_fake), aredis, sleep=RecordingSleep()) as gh:
        app = await gh.getitem("/app")

    assert app["slug"] == github_fake.slug
    assert [(r.status, r.auth) for r in github_fake.calls("GET", "/app")] == [
        (401, "none"),
        (200, "jwt"),
    ]


async def test_credentials_never_leave_for_another_origin(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    async with worker(github_fake, aredis) as (gh, _):
        with pytest.raises(ValueError, match="GITHUB_API_URL"):
            await gh.getitem("https://collector.example/steal")

    assert github_fake.tokens_issued == 0
    assert github_fake.requests == []


class InFlight(httpx2.AsyncBaseTransport):
    """A real HTTP transport that counts overlapping requests and adds 50 ms of latency."""

    def __init__(self) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self.current: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        method = request.method
        self.current[method] = self.current.get(method, 0) + 1
        self.peak[method] = max(self.peak.get(method, 0), self.current[method])
        try:
            await asyncio.sleep(0.05)  # latency, so overlapping requests would be seen
            response = await self._inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.current[method] -= 1

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_writes_to_one_installation_take_turns_across_workers(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.add_issue("octo-org/hello", "Paginate users")
    transport = InFlight()
    async with (
        httpx2.AsyncClient(transport=transport) as pool_a,
        httpx2.AsyncClient(transport=transport) as pool_b,
        worker(github_fake, aredis, RetryPolicy(write_burst=1), http=pool_a) as (first, seen_first),
        worker(github_fake, aredis, RetryPolicy(write_burst=1), http=pool_b) as (
            second,
            seen_second,
        ),
    ):
        await first.getitem("/repos/{owner}/{repo}", HELLO)  # mint the shared token first
        transport.peak.clear()
        url_vars = {**HELLO, "number": 1}
        await asyncio.gather(
            *(
                gh.post(ISSUE_COMMENTS, url_vars, data={"body": f"note {n}"})
                for n, gh in enumerate([first, second, first, second])
            )
        )
        await asyncio.gather(
            *(gh.getitem("/repos/{owner}/{repo}", HELLO) for gh in [first, second] * 2)
        )

    assert transport.peak["POST"] == 1
    assert transport.peak["GET"] > 1  # the instrument sees overlap when there is some
    assert len(github_fake.calls("POST", "/repos/octo-org/hello/issues/1/comments")) == 4
    # The recording sleep lets no time pass, so each write waits one more second than the
    # write before it: the pace is shared across both workers.
    spacing = sorted(seen_first.sleep.calls + seen_second.sleep.calls)
    assert len(spacing) == 3
    assert all(n + 0.8 < wait <= n + 1.0 for n, wait in enumerate(spacing))


async def test_a_short_burst_of_writes_does_not_wait(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.add_issue("octo-org/hello", "Paginate users")
    url_vars = {**HELLO, "number": 1}
    async with worker(github_fake, aredis, RetryPolicy(write_burst=3)) as (gh, seen):
        for n in range(3):
            await gh.post(ISSUE_COMMENTS, url_vars, data={"body": f"note {n}"})
        assert seen.sleep.calls == []
        await gh.post(ISSUE_COMMENTS, url_vars, data={"body": "one too many"})
    assert len(seen.sleep.calls) == 1 and 0.8 < seen.sleep.calls[0] <= 1.0


async def test_a_write_cancelled_while_taking_the_lock_leaves_the_lock_free(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis, redis_url: str
) -> None:
    github_fake.add_issue("octo-org/hello", "Paginate users")
    url_vars = {**HELLO, "number": 1}
    # Cancelled once Redis set the write lock: where a closing progress writer can cut a write.
    cancelling = CancelledAfterTheSet.on(redis_url, WRITE_LOCK_KEY.format(scope=""))
    try:
        async with worker(github_fake, cancelling) as (gh, _seen):
            await gh.getitem("/repos/{owner}/{repo}", HELLO)
            write = asyncio.create_task(gh.post(ISSUE_COMMENTS, url_vars, data={"body": "cut"}))
            with pytest.raises(asyncio.CancelledError):
                await write
    finally:
        await cancelling.aclose()

    assert await aredis.keys(WRITE_LOCK_KEY.format(scope="*")) == []
    assert github_fake.calls("POST", "/repos/octo-org/hello/issues/1/comments") == []
    # Another worker's write goes through at once instead of waiting a minute for the key.
    async with worker(github_fake, aredis) as (gh, _seen):
        await asyncio.wait_for(gh.post(ISSUE_COMMENTS, url_vars, data={"body": "next"}), 5)
    assert len(github_fake.calls("POST", "/repos/octo-org/hello/issues/1/comments")) == 1


async def test_a_long_wait_for_the_write_lock_is_logged(
    github_fake: FakeGitHub, aredis: redis.asyncio.Redis
) -> None:
    github_fake.add_issue("octo-org/hello", "Paginate users")
    policy = RetryPolicy(write_lock_slow_s=0.2)
    async with worker(github_fake, aredis, policy) as (gh, _seen):
        await gh.getitem("/repos/{owner}/{repo}", HELLO)  # mint the token first
        # Another holder's lock that nobody releases: it frees itself after 0.5 s.
        stuck = aredis.lock(WRITE_LOCK_KEY.format(scope="installation:1"), timeout=0.5)
        assert await stuck.acquire()
        with structlog.testing.capture_logs() as logs:
            await gh.post(ISSUE_COMMENTS, {**HELLO, "number": 1}, data={"body": "late"})
    (slow,) = [e for e in logs if e["event"] == "github.write_lock_slow"]
    assert slow["scope"] == "installation:1" and slow["acquired"] is True
    assert 0.2 <= slow["waited_s"] <= 5
    assert len(github_fake.calls("POST", "/repos/octo-org/hello/issues/1/comments")) == 1


def assert_no_token_in(fake: FakeGitHub, *texts: str) -> None:
    with fake.lock:
        tokens = list(fake.state.tokens)
    assert tokens
    for text in texts:
        for token in tokens:
            assert token not in text
