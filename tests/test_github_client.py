"""The GitHub client's retry policy, rate-limit waits, re-authentication and write serialisation."""

from __future__ import annotations

import socket

import httpx2
import pytest
import structlog

from bot.github.client import GitHubClient, GitHubUnreachable, RetryPolicy, graphql_url

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
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert secret not in message and secret not in repr(logs)
