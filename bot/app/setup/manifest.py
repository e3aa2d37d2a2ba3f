"""The App manifest for GitHub's manifest flow, and the credentials its conversion returns."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from importlib import resources
from typing import Any
from urllib.parse import quote

import yaml

MANIFEST_FILE = "github-app-manifest.yml"
"""Read through the `bot` package: bot/github-app-manifest.yml links to the repo root copy."""

PLACEHOLDER_WEBHOOK_URL = "https://example.com/aios-webhook-url-not-set"
"""Webhook URL registered when no public URL is known; the webhook is registered inactive."""

APP_SLUG_VARIABLE = "GITHUB_APP_SLUG"
"""Saved beside the credentials so the pages can name the App and link to its install page."""

ENV_KEYS = (
    "APP_ID",
    "PRIVATE_KEY",
    "WEBHOOK_SECRET",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
    APP_SLUG_VARIABLE,
)


def load_manifest(
    public_url: str | None, *, browser_url: str | None = None, proxy_url: str | None = None
) -> dict[str, Any]:
    """The App manifest from github-app-manifest.yml with this deployment's URLs filled in.

    Args:
        public_url: where GitHub can reach this server. Without one (and without a proxy)
            the webhook is registered inactive at a placeholder URL, to be set later.
        browser_url: where the registering person's browser reaches this server, for
            GitHub's redirect back with the code; defaults to `public_url`.
        proxy_url: a webhook proxy channel (WEBHOOK_PROXY_URL) `aios serve` reads: GitHub
            delivers there instead of to `public_url`.

    Raises:
        ValueError: when neither URL is given (GitHub would have nowhere to send the code).
    """
    manifest = yaml.safe_load(resources.files("bot").joinpath(MANIFEST_FILE).read_text())
    redirect_base = (public_url or browser_url or "").rstrip("/")
    if not redirect_base:
        raise ValueError("load_manifest needs public_url or browser_url for the redirect back")
    hook = dict(manifest.get("hook_attributes") or {})
    if public_url:
        manifest["url"] = public_url.rstrip("/")
    if proxy_url:
        hook.update(url=proxy_url, active=True)
    elif public_url:
        hook.update(url=f"{public_url.rstrip('/')}/webhook", active=True)
    else:
        hook.update(url=PLACEHOLDER_WEBHOOK_URL, active=False)
    manifest["hook_attributes"] = hook
    manifest["redirect_url"] = f"{redirect_base}/setup/callback"
    manifest["callback_urls"] = [f"{redirect_base}/setup/callback"]
    return manifest


def registration_url(git_base_url: str, state: str, *, org: str | None = None) -> str:
    """GitHub's "new App from manifest" address for the user, or for organisation `org`."""
    base = git_base_url.rstrip("/")
    owner = "" if org is None else f"/organizations/{quote(org, safe='')}"
    return f"{base}{owner}/settings/apps/new?state={quote(state, safe='')}"


def credentials_from_conversion(result: Mapping[str, Any]) -> dict[str, str]:
    """The .env values from GitHub's answer to POST /app-manifests/{code}/conversions.

    Raises:
        ValueError: naming the field GitHub's answer lacks.
    """
    for field in ("id", "pem", "client_id", "client_secret", "slug"):
        if not result.get(field):
            raise ValueError(f"GitHub's answer has no {field!r}")
    return {
        "APP_ID": str(result["id"]),
        # One line with literal "\n": what bot/settings.py reads back, and what PaaS
        # secret stores and docker compose env files can carry.
        "PRIVATE_KEY": str(result["pem"]).strip().replace("\n", "\\n"),
        "WEBHOOK_SECRET": str(result.get("webhook_secret") or secrets.token_hex(32)),
        "GITHUB_CLIENT_ID": str(result["client_id"]),
        "GITHUB_CLIENT_SECRET": str(result["client_secret"]),
        APP_SLUG_VARIABLE: str(result["slug"]),
    }
