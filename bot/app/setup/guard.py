"""What keeps strangers out of setup: one-time tokens, and an exposed server's setup code."""

from __future__ import annotations

import ipaddress
import secrets
import time
from urllib.parse import urlsplit

from aiohttp import web

TOKEN_TTL_S = 3600.0
"""GitHub wants all three steps of the manifest flow done within one hour; forms get as long."""

MAX_PENDING_TOKENS = 64
"""Every page view issues a token; keep only the newest so reloads cannot grow memory."""

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I: the code is read from a log and typed by hand."""

MAX_CODE_ATTEMPTS = 10
"""Wrong codes allowed before setup is locked until a restart (which prints a new code)."""

SESSION_COOKIE = "aios_setup"


class OneTimeTokens:
    """Tokens handed to a browser (a form, GitHub's `state`), each redeemable once within
    TOKEN_TTL_S: a forged or replayed request has none."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        self._expiry[token] = time.monotonic() + TOKEN_TTL_S
        while len(self._expiry) > MAX_PENDING_TOKENS:
            del self._expiry[next(iter(self._expiry))]
        return token

    def redeem(self, token: str) -> bool:
        expiry = self._expiry.pop(token, None)
        return expiry is not None and time.monotonic() < expiry


class SetupCode:
    """The code an exposed server prints in its log at start; entering it once opens a
    browser session for the setup pages, after which the code is spent."""

    def __init__(self) -> None:
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        self.code: str | None = f"{raw[:4]}-{raw[4:]}"
        self.failures = 0
        self._sessions: set[str] = set()

    @property
    def locked(self) -> bool:
        return self.failures >= MAX_CODE_ATTEMPTS

    def enter(self, entered: str) -> str | None:
        """A new session token when `entered` is the code (once), else None."""
        if self.code is None or self.locked:
            return None
        typed = "".join(c for c in entered.upper() if c.isalnum())
        if not secrets.compare_digest(typed, self.code.replace("-", "")):
            self.failures += 1
            return None
        self.code = None
        session = secrets.token_urlsafe(32)
        self._sessions.add(session)
        return session

    def admits(self, request: web.Request) -> bool:
        return request.cookies.get(SESSION_COOKIE, "") in self._sessions


def is_exposed(*, production: bool, public_url: str | None) -> bool:
    """Whether people other than this machine's user may reach the setup pages: a
    production deployment, or a public URL that is not this machine."""
    if production:
        return True
    if public_url is None:
        return False
    host = urlsplit(public_url).hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True
