"""The one GitHub REST client: gidgethub on httpx2 with AIOS's retry, rate-limit and auth policy."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import gidgethub
import gidgethub.httpx
import httpx2
import redis.asyncio
import structlog
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from bot import redis_locks
from bot.github import pacing
from bot.github.auth import AppCredentials, Credential, TokenCache, app_jwt
from bot.github.scopes import TokenScope
from bot.redact import redact

log = structlog.get_logger(__name__)

REQUESTER = "aios-github-app"
"""The User-Agent GitHub asks every client to send: who is calling."""

MUTATING_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

WRITE_LOCK_KEY = "aios:gh:write-lock:{scope}"

LOCK_WAIT_S = 5.0
"""How long a caller that may not wait for turns still waits for another worker's write in
flight to end (one request) before it is rescheduled instead."""

Sleep = Callable[[float], Awaitable[None]]
OnResponse = Callable[[str, int], None]


class GitHubUnreachable(gidgethub.GitHubException):
    """GitHub could not be reached (connection refused, timeout, TLS) after every retry."""


class GitHubWriteLockTimeout(gidgethub.GitHubException):
    """Other workers kept the installation's write lock for longer than the policy allows."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries before an error reaches the caller."""

    max_attempts: int = 5
    """Attempts per request, counting the first; 5xx, connection errors and rate limits share it."""
    backoff_base_s: float = 1.0
    """First pause after a 5xx or connection error; doubles with each further failure."""
    backoff_max_s: float = 30.0
    """Longest pause between two attempts after a 5xx or connection error."""
    max_wait_s: float = 900.0
    """Longest rate-limit wait honoured; a longer one is raised so the job can be rescheduled."""
    secondary_min_wait_s: float = 60.0
    """GitHub's rule: a secondary rate limit without retry-after or reset waits at least 60 s."""
    write_spacing_s: float = 1.0
    """Sustained pace of mutating requests to one installation: one per this many seconds
    (GitHub's best practice against secondary rate limits)."""
    write_burst: int = 4
    """Mutating requests allowed back to back before the pace applies, so a job's first few
    writes (a reaction, then a comment) do not wait: people notice those."""
    write_lock_timeout_s: float = 60.0
    """A worker that dies holding the write lock frees it after this long."""
    write_lock_wait_s: float = 300.0
    """How long a mutating request that may wait waits for another's request to end."""
    write_lock_slow_s: float = 5.0
    """A wait this long for the write lock is logged: one request holds it, so a longer wait
    means a stuck or dead holder, and every write of the installation waits with it."""

    def __post_init__(self) -> None:
        if self.write_burst < 1:
            raise ValueError(f"RetryPolicy.write_burst must be at least 1, got {self.write_burst}")
        if self.max_attempts < 1:
            raise ValueError(
                f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}"
            )
        if self.backoff_base_s < 0 or self.max_wait_s < 0 or self.write_spacing_s < 0:
            raise ValueError("RetryPolicy durations must not be negative")

    def backoff(self, failures: int) -> float:
        """Seconds to pause after the `failures`-th consecutive 5xx or connection error."""
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, failures - 1))

    def rate_limit_wait(
        self, status: int, headers: Mapping[str, str], message: str, *, now: float
    ) -> float | None:
        """Seconds to wait before retrying a 403/429, or None when it is not a rate limit.

        GitHub's documented order: `retry-after`; else, when `x-ratelimit-remaining` is 0,
        until `x-ratelimit-reset`; else at least a minute.
        """
        if status not in (403, 429):
            return None
        lowered = {k.lower(): v for k, v in headers.items()}
        retry_after = _number(lowered.get("retry-after"))
        remaining = lowered.get("x-ratelimit-remaining")
        reset = _number(lowered.get("x-ratelimit-reset"))
        limited = (
            status == 429
            or retry_after is not None
            or remaining == "0"
            or "rate limit" in message.lower()
        )
        if not limited:
            return None  # e.g. "Resource not accessible by integration": retrying will not help
        if retry_after is not None:
            return max(0.0, retry_after)
        if reset is not None and remaining in (None, "0"):
            return max(0.0, reset - now)
        return self.secondary_min_wait_s


class Auth(Protocol):
    """Supplies the Authorization header and hears when GitHub refused it."""

    async def authorization(self) -> str: ...

    async def refused(self, authorization: str) -> None: ...


class AppAuth:
    """Authenticates as the App with a JWT, re-signed well before it expires."""

    def __init__(
        self, creds: AppCredentials, *, clock: Callable[[], float] = time.time, reuse_s: float = 300
    ) -> None:
        self._creds = creds
        self._clock = clock
        self._reuse_s = reuse_s
        self._jwt: str | None = None
        self._signed_at = 0.0

    async def authorization(self) -> str:
        now = self._clock()
        if self._jwt is None or now - self._signed_at >= self._reuse_s:
            self._jwt = app_jwt(self._creds, now=now)
            self._signed_at = now
        return f"Bearer {self._jwt}"

    async def refused(self, authorization: str) -> None:
        self._jwt = None


class InstallationAuth:
    """Authenticates as one installation with the token shared through TokenCache."""

    def __init__(
        self, tokens: TokenCache, installation_id: int, scope: TokenScope | None = None
    ) -> None:
        self._tokens = tokens
        self.installation_id = installation_id
        self.scope = scope

    async def authorization(self) -> str:
        return f"token {await self._tokens.token(self.installation_id, self.scope)}"

    async def refused(self, authorization: str) -> None:
        await self._tokens.invalidate(
            self.installation_id, token=authorization.removeprefix("token "), scope=self.scope
        )


@dataclass
class _Call:
    """Bookkeeping for one logical request across its attempts."""

    failures: int = 0
    reauthenticated: bool = False
    authorization: str | None = None


_CALL: ContextVar[_Call | None] = ContextVar("aios_github_call", default=None)


class GitHubClient(gidgethub.httpx.GitHubAPI):
    """gidgethub's GitHubAPI with one retry policy, injected auth and serialised writes.

    - 5xx and connection errors: retried with exponential backoff.
    - 403/429 rate limits: wait as GitHub says (retry-after, reset, or 60 s), bounded.
    - 401 on credentials this client supplied: the credential is dropped, renewed once
      and the request retried once.
    - With `redis` and `write_scope`, mutating requests in that scope take turns across
      all worker processes (GitHub's advice against concurrent content creation).
    - Credentials are only ever sent to the origin of `base_url`.

    `on_response(method, status)` hears every HTTP exchange, retries included (status 0:
    no response, a connection error), so the caller can count calls in its metrics.
    `sleep` and `clock` are injectable so tests observe waits without waiting.
    5xx answers to mutating requests are retried too; a write GitHub applied before failing
    can then land twice, which the jobs' upserts by hidden marker absorb.
    """

    def __init__(
        self,
        client: httpx2.AsyncClient,
        requester: str = REQUESTER,
        *,
        base_url: str,
        auth: Auth | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.time,
        redis: redis.asyncio.Redis | None = None,
        write_scope: str | None = None,
        on_response: OnResponse | None = None,
    ) -> None:
        super().__init__(client, requester, base_url=base_url.rstrip("/"))
        self.policy = policy or RetryPolicy()
        self._auth = auth
        self._sleep = sleep
        self._clock = clock
        self._redis = redis
        self._write_scope = write_scope
        self._on_response = on_response
        self._origin = _origin(self.base_url)

    async def sleep(self, seconds: float) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
        else:
            await super().sleep(seconds)

    async def _make_request(self, *args: Any, **kwargs: Any) -> tuple[bytes, str | None, int]:
        # Every body AIOS sends passes here: the one place its writes are redacted.
        if "data" in kwargs:
            kwargs["data"] = scrub(kwargs["data"])
        elif len(args) > 3:
            args = (*args[:3], scrub(args[3]), *args[4:])
        token = _CALL.set(_Call())
        try:
            return await super()._make_request(*args, **kwargs)
        finally:
            _CALL.reset(token)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        call = _CALL.get() or _Call()
        if _origin(url) != self._origin:
            raise ValueError(
                f"refusing to send a request for {_origin(url)} through the client for "
                f"{self._origin}; GitHub API URLs must live under GITHUB_API_URL"
            )
        request_headers = dict(headers)
        if self._auth is not None and "authorization" not in request_headers:
            call.authorization = Credential(await self._auth.authorization())
            request_headers["authorization"] = call.authorization
        serialise = method in MUTATING_METHODS and self._redis is not None and self._write_scope
        while True:
            try:
                if serialise:
                    async with self._write_turn():
                        response = await self._client.request(
                            method, url, headers=request_headers, content=body
                        )
                else:
                    response = await self._client.request(
                        method, url, headers=request_headers, content=body
                    )
            except httpx2.TransportError as exc:
                # Only text leaves this block: the httpx2 error holds the request, headers
                # and credentials included, and must not ride along as __context__.
                reason = f"{type(exc).__name__}: {exc}"
            else:
                self._report(method, response.status_code)
                return response.status_code, response.headers, response.content
            self._report(method, 0)
            call.failures += 1
            where = f"{method} {urlsplit(url).path}"
            if call.failures >= self.policy.max_attempts:
                log.error("github.unreachable", request=where, reason=reason)
                raise GitHubUnreachable(
                    f"GitHub API at {self._origin} unreachable for {where} after "
                    f"{call.failures} attempts ({reason}); check GITHUB_API_URL and the network"
                )
            delay = self.policy.backoff(call.failures)
            log.warning("github.retry", request=where, reason=reason, delay_s=delay)
            await self.sleep(delay)

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: gidgethub.HTTPException, attempt: int
    ) -> bool:
        call = _CALL.get() or _Call()
        status = int(exception.status_code)
        where = f"{method} {urlsplit(url).path}"
        if (
            status == 401
            and self._auth is not None
            and call.authorization is not None
            and not call.reauthenticated
        ):
            call.reauthenticated = True
            log.info("github.reauthenticate", request=where)
            await self._auth.refused(call.authorization)
            return True
        if status >= 500:
            delay: float | None = self.policy.backoff(call.failures + 1)
        else:
            message = exception.args[0] if exception.args else ""
            delay = self.policy.rate_limit_wait(
                status, exception.headers, str(message), now=self._clock()
            )
            if delay is None:
                return False
            if delay > self.policy.max_wait_s:
                log.warning("github.rate_limited.giving_up", request=where, wait_s=delay)
                return False
        call.failures += 1
        if call.failures >= self.policy.max_attempts:
            log.warning("github.retries_exhausted", request=where, status=status, attempt=attempt)
            return False
        log.warning("github.retry", request=where, status=status, delay_s=delay, attempt=attempt)
        await self.sleep(delay)
        return True

    async def manage_rate_limit(self, *, method: str, url: str) -> None:
        # gidgethub decrements `remaining` before each request: below zero means the
        # last response said the quota was spent, so wait for the reset instead of a 403.
        limit = self.rate_limit
        if limit is None or limit.remaining >= 0:
            return
        wait = limit.reset_datetime.timestamp() - self._clock()
        if 0 < wait <= self.policy.max_wait_s:
            log.warning("github.rate_limit.waiting", wait_s=round(wait, 1))
            await self.sleep(wait)

    async def graphql(self, query: str, *, endpoint: str | None = None, **variables: Any) -> Any:
        """GraphQL against this client's GitHub (github.com or GHES), not always github.com."""
        return await super().graphql(
            query, endpoint=endpoint or graphql_url(self.base_url), **scrub(variables)
        )

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        assert self._redis is not None and self._write_scope is not None
        limit = pacing.current_wait_limit()
        granted, wait = await pacing.take_turn(
            self._redis,
            self._write_scope,
            now=self._clock(),
            spacing_s=self.policy.write_spacing_s,
            burst=self.policy.write_burst,
            max_wait_s=limit,
        )
        if not granted:
            log.info("github.write_deferred", scope=self._write_scope, wait_s=round(wait, 2))
            raise pacing.WriteDeferred(self._write_scope, wait)
        if wait > 0:
            await self.sleep(wait)
        # The turn paces; the lock keeps two workers' writes of one burst from overlapping
        # (GitHub: no concurrent requests per installation). It is held for one request only.
        lock = Lock(
            self._redis,
            WRITE_LOCK_KEY.format(scope=self._write_scope),
            timeout=self.policy.write_lock_timeout_s,
            blocking_timeout=self.policy.write_lock_wait_s if limit is None else LOCK_WAIT_S,
            sleep=0.02,
        )
        asked = time.monotonic()
        acquired = await redis_locks.acquire(lock)
        waited = time.monotonic() - asked
        if waited >= self.policy.write_lock_slow_s:
            log.warning(
                "github.write_lock_slow",
                scope=self._write_scope,
                waited_s=round(waited, 1),
                acquired=acquired,
            )
        if not acquired:
            if limit is not None:
                raise pacing.WriteDeferred(self._write_scope, self.policy.write_spacing_s)
            raise GitHubWriteLockTimeout(
                f"waited {self.policy.write_lock_wait_s:.0f}s for the write lock of "
                f"{self._write_scope}; another worker may be stuck, retry the job later"
            )
        pacing.note_write()
        try:
            yield
        finally:
            try:
                await lock.release()
            except LockError:
                log.warning("github.write_lock_expired", scope=self._write_scope)

    def _report(self, method: str, status: int) -> None:
        if self._on_response is not None:
            self._on_response(method, status)


def scrub(data: Any) -> Any:
    """A request body with every string in it redacted: whatever AIOS writes to GitHub
    (comments, PR bodies, reviews, check runs, labels) leaves without a secret in it."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {key: scrub(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [scrub(value) for value in data]
    return data


def graphql_url(api_url: str) -> str:
    """github.com serves GraphQL at api.github.com/graphql; GHES at /api/graphql."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base.removesuffix("/v3") + "/graphql"
    return base + "/graphql"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
