"""GitHub App authentication: the App's JWT and installation tokens shared by workers in Redis."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import jwt
import redis.asyncio
import structlog
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from bot import redis_locks
from bot.github.scopes import TokenScope
from bot.settings import Settings

log = structlog.get_logger(__name__)

JWT_BACKDATE_S = 60
"""`iat` is set this far in the past so a GitHub clock slightly behind ours accepts the JWT."""

JWT_LIFETIME_S = 540
"""Seconds from now until `exp`: under GitHub's 10-minute cap even if our clock runs fast."""

MINT_LOCK_TIMEOUT_S = 30.0
"""A minting worker that dies holding the lock releases it after this long."""

MINT_LOCK_WAIT_S = 60.0
"""How long a worker waits for another worker's minting before giving up with an error."""

TOKEN_KEY = "aios:gh:token:{installation_id}:{scope}"  # noqa: S105 - a key name, not a secret
TOKEN_INDEX_KEY = "aios:gh:tokens:{installation_id}"  # noqa: S105 - a key name, not a secret
"""The scopes an installation has tokens cached for, so an uninstall forgets all of them."""
MINT_LOCK_KEY = "aios:gh:token-mint:{installation_id}:{scope}"
UNSCOPED = "all"
"""The scope part of the key of a token minted for the whole installation (tests, tools)."""

# Deletes the cached token only if it is still the one that was refused, so a worker
# reporting a stale 401 does not throw away a token another worker has just minted.
_DELETE_IF_FINGERPRINT = """
if redis.call('HGET', KEYS[1], 'fp') == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Credential(str):
    """A token or JWT: a plain string to every API, but `<redacted>` in any repr.

    Tracebacks that render local variables, debuggers and `repr()` in a log line then
    show no secret, even where a header dict holding one is on the stack.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "Credential('<redacted>')"


class AuthError(Exception):
    """GitHub App credentials are missing or GitHub refused to issue a token."""


@dataclass(frozen=True)
class AppCredentials:
    """The App's identity: its id and the PEM private key that signs its JWTs."""

    app_id: int
    private_key: str = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> AppCredentials:
        """Raises AuthError when the App is not configured."""
        if settings.app_id is None or settings.private_key is None:
            raise AuthError(
                "APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH) are required to call GitHub as "
                "the App; register it with `aios setup` and set them in the environment"
            )
        return cls(app_id=settings.app_id, private_key=settings.private_key)


class Minter(Protocol):
    """What TokenCache needs to mint a token: any gidgethub GitHubAPI fits."""

    async def post(
        self, url: str, url_vars: Any = ..., *, data: Any, jwt: str | None = ...
    ) -> Any: ...


def app_jwt(creds: AppCredentials, *, now: float | None = None) -> str:
    """A JWT (RS256) that authenticates as the App for the next nine minutes."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iat": issued - JWT_BACKDATE_S,
        "exp": issued + JWT_LIFETIME_S,
        "iss": str(creds.app_id),
    }
    return Credential(jwt.encode(claims, creds.private_key, algorithm="RS256"))


def fingerprint(token: str) -> str:
    """A short, one-way name for a token: lets code compare tokens without holding them."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenCache:
    """Installation access tokens in Redis, minted once and shared by every worker.

    A token is served from Redis until `renew_before_s` before its `expires_at`; then
    one worker (holding a per-installation lock) mints a new one while the others
    wait for it instead of minting their own. Tokens are encrypted at rest with a key
    derived from the App's private key, so a reader of Redis alone cannot use them.
    """

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        creds: AppCredentials,
        api: Minter,
        *,
        renew_before_s: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._creds = creds
        self._api = api
        self._renew_before_s = renew_before_s
        self._clock = clock
        self._fernet = Fernet(_storage_key(creds.private_key))
        self.mints = 0
        """Tokens this instance has minted (for tests and diagnostics)."""

    async def token(self, installation_id: int, scope: TokenScope | None = None) -> str:
        """A valid token for the installation, from Redis or freshly minted.

        With `scope`, the token is minted for that one repository and those permissions
        (GitHub refuses it anything else) and cached apart from tokens of other scopes.

        Raises:
            AuthError: another worker held the minting lock for too long.
            gidgethub.HTTPException: GitHub refused to mint (e.g. 404 after uninstall).
        """
        key = _token_key(installation_id, scope)
        cached = await self._cached(key)
        if cached is not None:
            return cached
        lock = Lock(
            self._redis,
            MINT_LOCK_KEY.format(installation_id=installation_id, scope=_scope_part(scope)),
            timeout=MINT_LOCK_TIMEOUT_S,
            blocking_timeout=MINT_LOCK_WAIT_S,
            sleep=0.05,
        )
        try:
            acquired = await redis_locks.acquire(lock)
        except LockError:
            acquired = False
        if not acquired:
            raise AuthError(
                f"timed out after {MINT_LOCK_WAIT_S:.0f}s waiting for another worker to mint "
                f"a token for installation {installation_id}; check that GitHub is reachable"
            )
        try:
            # Another worker may have minted while this one waited for the lock.
            cached = await self._cached(key)
            if cached is not None:
                return cached
            return await self._mint(installation_id, scope)
        finally:
            try:
                await lock.release()
            except LockError:
                log.warning("github.token.mint_lock_expired", installation_id=installation_id)

    async def invalidate(
        self, installation_id: int, *, token: str | None = None, scope: TokenScope | None = None
    ) -> None:
        """Drop the cached token (only if it is still `token`, when given): GitHub refused it."""
        key = _token_key(installation_id, scope)
        if token is None:
            await self._redis.delete(key)
        else:
            await self._redis.eval(_DELETE_IF_FINGERPRINT, 1, key, fingerprint(token))
        log.info("github.token.invalidated", installation_id=installation_id)

    async def forget_installation(self, installation_id: int) -> None:
        """Drop everything held for an installation that was deleted."""
        await self._redis.delete(*await token_keys(self._redis, installation_id))

    async def _cached(self, key: str) -> str | None:
        stored = await self._redis.hgetall(key)
        if not stored:
            return None
        fields = {_text(k): v for k, v in stored.items()}
        try:
            renew_at = float(_text(fields["renew_at"]))
            sealed = fields["token"]
        except (KeyError, ValueError):
            return None
        if self._clock() >= renew_at:
            return None
        try:
            return Credential(self._fernet.decrypt(_bytes(sealed)).decode())
        except InvalidToken:
            # Sealed with another private key (the App's key was rotated): mint anew.
            return None

    async def _mint(self, installation_id: int, scope: TokenScope | None) -> str:
        response = await self._api.post(
            "/app/installations/{installation_id}/access_tokens",
            {"installation_id": installation_id},
            data=scope.request() if scope is not None else {},
            jwt=app_jwt(self._creds),  # real time: GitHub checks iat against its own clock
        )
        token = Credential(response["token"])
        expires_at = datetime.fromisoformat(response["expires_at"]).timestamp()
        now = self._clock()
        # A token living less than twice renew_before_s is still used for half its life,
        # so a short-lived token does not mean a mint per call.
        renew_at = expires_at - min(self._renew_before_s, (expires_at - now) / 2)
        # Redis forgets the token when it is due for renewal; the stored renew_at also
        # covers a Redis whose clock differs from ours.
        ttl_ms = max(1000, int((renew_at - now) * 1000))
        key = _token_key(installation_id, scope)
        index = TOKEN_INDEX_KEY.format(installation_id=installation_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(
                key,
                mapping={
                    "token": self._fernet.encrypt(token.encode()),
                    "fp": fingerprint(token),
                    "renew_at": repr(renew_at),
                },
            )
            pipe.pexpire(key, ttl_ms)
            pipe.sadd(index, key)
            pipe.expire(index, max(3600, int(expires_at - now)))  # outlives the tokens it lists
            await pipe.execute()
        self.mints += 1
        log.info(
            "github.token.minted",
            installation_id=installation_id,
            repo=scope.repo if scope else None,
            permissions=dict(scope.permissions) if scope else None,
            fingerprint=fingerprint(token),
            expires_in_s=int(expires_at - now),
        )
        return token


async def token_keys(redis: redis.asyncio.Redis, installation_id: int) -> list[str]:
    """Every Redis key holding a token of the installation, and the index listing them."""
    index = TOKEN_INDEX_KEY.format(installation_id=installation_id)
    listed = [_text(k) for k in await redis.smembers(index)]
    return [index, _token_key(installation_id, None), *listed]


def _scope_part(scope: TokenScope | None) -> str:
    return scope.key if scope is not None else UNSCOPED


def _token_key(installation_id: int, scope: TokenScope | None) -> str:
    return TOKEN_KEY.format(installation_id=installation_id, scope=_scope_part(scope))


def _storage_key(private_key: str) -> bytes:
    """A Fernet key derived from the App's private key, which every worker already holds."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"aios installation token cache"
    ).derive(private_key.encode())
    return base64.urlsafe_b64encode(derived)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
