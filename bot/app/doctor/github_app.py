"""Doctor checks against GitHub as the App: credentials, installations, webhook, deliveries."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import gidgethub
import jwt

from bot.app.doctor.findings import Finding, Probe, bad, good
from bot.app.redeliver import failed_guids
from bot.github.auth import Credential
from bot.github.client import GitHubClient
from bot.settings import Settings

DELIVERY_WINDOW_H = 24
"""How far back failed deliveries are looked for (GitHub keeps them for 3 days)."""

REPOS_SHOWN = 5
"""Repository names listed per installation; the rest are counted."""

LISTING_TOKEN = {"permissions": {"metadata": "read"}}
"""The installation tokens doctor mints can list repositories and nothing else."""


async def check_app(settings: Settings, probe: Probe) -> list[Finding]:
    """`GET /app` with the App's JWT: are APP_ID and PRIVATE_KEY the App's?"""
    if not settings.has_app_credentials or probe.gh is None:
        return [
            bad(
                "no GitHub App credentials (APP_ID, PRIVATE_KEY)",
                "run `aios serve` and open /setup to register the App, or set them in .env",
            )
        ]
    api = settings.github_api_url
    key_fix = f"check APP_ID ({settings.app_id}) and that PRIVATE_KEY is the App's current key"
    try:
        app = await probe.gh.getitem("/app")
    except (ValueError, jwt.PyJWTError) as exc:
        return [bad(f"PRIVATE_KEY cannot sign the App's JWT ({type(exc).__name__})", key_fix)]
    except gidgethub.HTTPException as exc:
        return [bad(f"GitHub refused the App credentials at {api}: {_said(exc)}", key_fix)]
    except gidgethub.GitHubException as exc:
        return [bad(f"cannot reach {api}: {exc}", "check GITHUB_API_URL and the network")]
    probe.app = app
    return [good(f"App {app.get('slug')!r} (id {app.get('id')}) authenticated at {api}")]


async def check_installations(_settings: Settings, probe: Probe) -> list[Finding]:
    """Every installation, and the repositories it lets AIOS see."""
    if probe.gh is None or probe.app is None:
        return []
    try:
        installations = [i async for i in probe.gh.getiter("/app/installations{?per_page}", _100)]
    except gidgethub.GitHubException as exc:
        return [bad(f"cannot list the App's installations: {_said(exc)}", _retry_hint(probe.app))]
    if not installations:
        return [
            bad(
                f"App {probe.app.get('slug')!r} is not installed anywhere: no events reach AIOS",
                f"install the App: {probe.app.get('html_url')}/installations/new",
            )
        ]
    return [await _installation(probe.gh, installation) for installation in installations]


_100 = {"per_page": 100}


async def _installation(gh: GitHubClient, installation: Mapping[str, Any]) -> Finding:
    ident = installation["id"]
    account = (installation.get("account") or {}).get("login", "?")
    name = f"installation {ident} on {account}"
    page = installation.get("html_url") or "the installation's settings page"
    if installation.get("suspended_at"):
        return bad(f"{name} is suspended: AIOS gets no events from it", f"unsuspend it at {page}")
    try:
        minted = await gh.post(
            "/app/installations/{installation_id}/access_tokens",
            {"installation_id": ident},
            data=LISTING_TOKEN,
        )
        token = Credential(minted["token"])
        answer = await gh.getitem("/installation/repositories{?per_page}", _100, oauth_token=token)
    except gidgethub.GitHubException as exc:
        return bad(f"{name}: GitHub refused to list its repositories: {_said(exc)}", page)
    names = [repo["full_name"] for repo in answer.get("repositories", [])]
    total = int(answer.get("total_count", len(names)))
    if total == 0:
        return bad(f"{name} has access to no repository", f"choose repositories at {page}")
    shown = ", ".join(names[:REPOS_SHOWN]) + (
        f" and {total - REPOS_SHOWN} more" if total > REPOS_SHOWN else ""
    )
    return good(f"{name}: {total} {'repository' if total == 1 else 'repositories'} ({shown})")


async def check_webhook(settings: Settings, probe: Probe) -> list[Finding]:
    """`GET /app/hook/config`: where GitHub sends events, and how.

    GitHub's API does not say whether the webhook is active (the settings page's
    "Active" box); the deliveries check is where an inactive one shows.
    """
    if probe.gh is None or probe.app is None:
        return []
    try:
        config = await probe.gh.getitem("/app/hook/config")
    except gidgethub.GitHubException as exc:
        problem = f"cannot read the App's webhook settings: {_said(exc)}"
        return [bad(problem, _retry_hint(probe.app))]
    page = settings_page(probe.app)
    url = str(config.get("url") or "")
    expected = f"{settings.public_url.rstrip('/')}/webhook" if settings.public_url else None
    findings: list[Finding] = []
    if not url:
        findings.append(
            bad(
                "the App has no webhook URL: GitHub sends AIOS no events",
                f"set Webhook URL to {expected or 'AIOS_PUBLIC_URL + /webhook'} at {page}",
            )
        )
    elif expected is not None and url.rstrip("/") != expected:
        findings.append(
            bad(
                f"the App's webhook URL is {url}, not {expected} (AIOS_PUBLIC_URL + /webhook)",
                f"set Webhook URL to {expected} at {page}, or correct AIOS_PUBLIC_URL",
            )
        )
    if config.get("content_type") != "json":
        findings.append(
            bad(
                f"the App's webhook content type is {config.get('content_type')!r}: "
                "AIOS refuses anything but JSON (415)",
                f"set Content type to application/json at {page}",
            )
        )
    if not config.get("secret"):
        findings.append(
            bad(
                "the App's webhook has no secret: AIOS refuses unsigned deliveries",
                f"set Webhook secret to the value of WEBHOOK_SECRET at {page}",
            )
        )
    if str(config.get("insecure_ssl", "0")) != "0":
        findings.append(
            bad(
                "the App's webhook does not verify TLS certificates (insecure_ssl)",
                f"enable SSL verification at {page}",
            )
        )
    if findings:
        return findings
    unchecked = "" if expected else "; AIOS_PUBLIC_URL not set, URL not compared"
    return [good(f"webhook {url} (JSON, secret set, TLS verified{unchecked})")]


async def check_deliveries(_settings: Settings, probe: Probe) -> list[Finding]:
    """Deliveries of the last day that no attempt got accepted (`GET /app/hook/deliveries`)."""
    if probe.gh is None or probe.app is None:
        return []
    since = time.time() - DELIVERY_WINDOW_H * 3600
    recent: list[dict[str, Any]] = []
    try:
        async for delivery in probe.gh.getiter("/app/hook/deliveries{?per_page}", _100):
            # Newest first: once past the window, older pages cannot matter.
            if _epoch(delivery["delivered_at"]) < since:
                break
            recent.append(delivery)
    except gidgethub.GitHubException as exc:
        return [bad(f"cannot list webhook deliveries: {_said(exc)}", _retry_hint(probe.app))]
    failed = failed_guids(recent, since=since)
    if not failed:
        return [good(f"no failed webhook deliveries in the last {DELIVERY_WINDOW_H} h")]
    status_of = {int(d["id"]): int(d.get("status_code") or 0) for d in recent}
    codes = Counter(status_of[ident] for ident in failed.values())
    listed = ", ".join(
        f"{f'status {code}' if code else 'no connection'}: {count}"
        for code, count in sorted(codes.items())
    )
    deliveries = "delivery" if len(failed) == 1 else "deliveries"
    return [
        bad(
            f"{len(failed)} webhook {deliveries} failed in the last {DELIVERY_WINDOW_H} h "
            f"and no later attempt got through ({listed})",
            f"find the cause (the server log; Recent Deliveries at {settings_page(probe.app)}"
            "/advanced), fix it, then run `aios redeliver`",
        )
    ]


def settings_page(app: Mapping[str, Any]) -> str:
    """The App's settings page on GitHub (or GHES), where its webhook is configured."""
    slug = app.get("slug", "")
    base = str(app.get("html_url", "")).rsplit("/apps/", 1)[0] or "https://github.com"
    owner = app.get("owner") or {}
    if owner.get("type") == "Organization":
        return f"{base}/organizations/{owner.get('login')}/settings/apps/{slug}"
    return f"{base}/settings/apps/{slug}"


def _said(exc: gidgethub.GitHubException) -> str:
    status = getattr(exc, "status_code", None)
    return f"{int(status)} {exc}" if status is not None else str(exc)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _retry_hint(app: Mapping[str, Any]) -> str:
    return f"run `aios doctor` again; if it persists, check the App at {settings_page(app)}"
