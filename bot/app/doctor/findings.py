"""What one doctor check reports, and what the checks of one run share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.github.client import GitHubClient
from bot.settings import Settings


@dataclass(frozen=True)
class Finding:
    """One line of the report: ✓, ⚠ or ✗, and for a ⚠ or ✗ what to do about it.

    A warning (⚠) is a risk the operator chose, such as AIOS_SANDBOX=unisolated: it does not
    fail the run."""

    ok: bool
    what: str
    fix: str = ""
    warning: bool = False

    def __post_init__(self) -> None:
        if (self.warning or not self.ok) and not self.fix:
            raise ValueError(f"a problem needs its fix: {self.what!r}")

    @property
    def mark(self) -> str:
        return "⚠" if self.warning else "✓" if self.ok else "✗"


def good(what: str) -> Finding:
    return Finding(True, what)


def bad(what: str, fix: str) -> Finding:
    return Finding(False, what, fix)


def warn(what: str, fix: str) -> Finding:
    return Finding(True, what, fix, warning=True)


@dataclass
class Probe:
    """What the checks of one run share.

    `gh` is authenticated as the App (a JWT: no Redis needed); `app` is GitHub's answer
    to `GET /app`, set once the credentials were accepted. Checks that need GitHub say
    nothing when `app` is None: the credentials' ✗ already names the one cause.
    """

    gh: GitHubClient | None = None
    app: Mapping[str, Any] | None = None


Check = Callable[[Settings, Probe], Awaitable[list[Finding]]]
"""`async def check_x(settings, probe) -> list[Finding]`: one entry of `CHECKS`."""
