"""`aios doctor`: check settings, GitHub, the model, Redis, sandbox and git; say how to fix each."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TextIO

import httpx2

from bot.app.doctor.findings import Check, Finding, Probe
from bot.app.doctor.github_app import (
    check_app,
    check_deliveries,
    check_installations,
    check_webhook,
)
from bot.app.doctor.host import check_git, check_redis, check_sandbox, check_settings
from bot.app.doctor.model import check_model
from bot.github.auth import AppCredentials
from bot.github.client import AppAuth, GitHubClient, RetryPolicy
from bot.github.sessions import HTTP_TIMEOUT, tls_context
from bot.redact import redact
from bot.settings import Settings

__all__ = ["CHECKS", "Check", "Finding", "Probe", "run_doctor"]

CHECKS: list[Check] = [
    check_settings,
    check_app,  # the GitHub checks after it need the Probe's `app` it sets
    check_installations,
    check_webhook,
    check_deliveries,
    check_model,
    check_redis,
    check_sandbox,
    check_git,
]
"""Run in this order, each line printed as found; one more check is one more entry."""

POLICY = RetryPolicy(max_attempts=2, backoff_base_s=0.5, max_wait_s=10.0)
"""A person waits for doctor: one retry, and no long rate-limit waits."""


async def run_doctor(
    settings: Settings, out: TextIO = sys.stdout, *, checks: Sequence[Check] = CHECKS
) -> int:
    """Print every finding; exit status 1 when anything needs fixing."""
    failed = False
    async with _probe(settings) as probe:
        for check in checks:
            for finding in await check(settings, probe):
                failed |= not finding.ok
                _print(finding, settings, out)
    return 1 if failed else 0


def _print(finding: Finding, settings: Settings, out: TextIO) -> None:
    # Messages quote GitHub and Redis; a secret they might echo is masked all the same.
    print(redact(f"{finding.mark} {finding.what}", settings.secrets()), file=out)
    if finding.fix:
        print(redact(f"    fix: {finding.fix}", settings.secrets()), file=out)
    out.flush()


@asynccontextmanager
async def _probe(settings: Settings) -> AsyncIterator[Probe]:
    if not settings.has_app_credentials:
        yield Probe()
        return
    # A JWT needs no token cache, so the App is checked with or without Redis.
    auth = AppAuth(AppCredentials.from_settings(settings))
    async with httpx2.AsyncClient(timeout=HTTP_TIMEOUT, verify=tls_context()) as session:
        gh = GitHubClient(session, base_url=settings.github_api_url, auth=auth, policy=POLICY)
        yield Probe(gh)
