"""The /setup pages: register AIOS as a GitHub App from its manifest and save the credentials."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

import gidgethub
import httpx2
import structlog
import yaml
from aiohttp import web
from dotenv.parser import parse_stream
from gidgethub.httpx import GitHubAPI

from bot.settings import Settings

log = structlog.get_logger(__name__)

MANIFEST_FILE = "github-app-manifest.yml"
"""Read through the `bot` package: bot/github-app-manifest.yml links to the repo root copy."""

PLACEHOLDER_WEBHOOK_URL = "https://example.com/aios-webhook-url-not-set"
"""Webhook URL registered when no public URL is known; the webhook is registered inactive."""

STATE_TTL_S = 3600.0
"""GitHub wants all three steps of the manifest flow done within one hour."""

MAX_PENDING_STATES = 64
"""Every /setup view issues a state; keep only the newest so reloads cannot grow memory."""

ENV_KEYS = ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")

_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

_WEBHOOK_OK = "<p>GitHub will deliver webhooks to <code>{hook_url}</code>.</p>"

_ORG_FORM = """<form action="/setup" method="get"><p>Register it for an organisation
instead: <input name="org" placeholder="organisation login" required
pattern="[A-Za-z0-9][A-Za-z0-9-]{0,38}"> <button type="submit">Use organisation</button></p>
</form>"""

_USER_LINK = "<p><a href='/setup'>Register it for your own account instead</a></p>"

_GENERATED_WEBHOOK_NOTE = """ GitHub returned no webhook secret, so AIOS generated one and
saved it as <code>WEBHOOK_SECRET</code>: copy it into the App's settings (Webhook secret)
when you switch the webhook on."""


def load_manifest(public_url: str | None, *, browser_url: str | None = None) -> dict[str, Any]:
    """The App manifest from github-app-manifest.yml with this deployment's URLs filled in.

    Args:
        public_url: where GitHub can reach this server. Without one the webhook is
            registered inactive at a placeholder URL, to be set in the App's settings.
        browser_url: where the registering person's browser reaches this server, for
            GitHub's redirect back with the code; defaults to `public_url`.

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
    for field in ("id", "pem", "client_id", "client_secret"):
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
    }


def write_env(env_path: Path, values: Mapping[str, str]) -> None:
    """Set `values` in the dotenv file `env_path`, keeping every other line as it was.

    The file is replaced atomically (temporary file, then rename) and ends up with
    mode 0600, since it holds the App's private key.

    Raises:
        ValueError: if a value cannot be written single-quoted (names the key only).
        OSError: if the file cannot be read or written.
    """
    lines = []
    for key, value in values.items():
        if not _single_quotable(value):
            raise ValueError(f"{key}: value cannot be written single-quoted; not written")
        lines.append(f"{key}='{value}'\n")
    try:
        with env_path.open() as existing:
            kept = "".join(b.original.string for b in parse_stream(existing) if b.key not in values)
    except FileNotFoundError:
        kept = ""
    if kept and not kept.endswith("\n"):
        kept += "\n"
    fd, tmp = tempfile.mkstemp(dir=env_path.parent, prefix=f".{env_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(kept + "".join(lines))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, env_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _PendingStates:
    """CSRF states handed to GitHub, each redeemable once within STATE_TTL_S."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}

    def issue(self) -> str:
        state = secrets.token_urlsafe(24)
        self._expiry[state] = time.monotonic() + STATE_TTL_S
        while len(self._expiry) > MAX_PENDING_STATES:
            del self._expiry[next(iter(self._expiry))]
        return state

    def redeem(self, state: str) -> bool:
        expiry = self._expiry.pop(state, None)
        return expiry is not None and time.monotonic() < expiry


class _SetupFlow:
    """The handlers, sharing the pending states, the templates and whether this run is done."""

    def __init__(self, settings: Settings, env_path: Path, public_url: str | None) -> None:
        self.settings = settings
        self.env_path = env_path
        self.public_url = public_url
        self.states = _PendingStates()
        self.registered = False
        folder = resources.files("bot.app.templates")
        self.templates = {
            name: Template(folder.joinpath(f"setup_{name}.html").read_text())
            for name in ("layout", "start", "no_public_url", "done")
        }

    async def start(self, request: web.Request) -> web.Response:
        if self.registered:
            return self._restart_page(200)
        org = request.query.get("org", "").strip() or None
        if org is not None and not _LOGIN.match(org):
            return self._page(
                400,
                "Not an organisation name",
                f"<p><code>{_e(org)}</code> is not a GitHub organisation login (letters, digits "
                "and single hyphens, at most 39).</p><p><a href='/setup'>Back</a></p>",
            )
        local_url = str(request.url.origin())
        manifest = load_manifest(self.public_url, browser_url=local_url)
        if self.public_url:
            note = _WEBHOOK_OK.format(hook_url=_e(manifest["hook_attributes"]["url"]))
        else:
            note = self.templates["no_public_url"].substitute(local_url=_e(local_url))
        state = self.states.issue()
        body = self.templates["start"].substitute(
            web_host=_e(self.settings.git_base_url),
            target=f"the organisation <code>{_e(org)}</code>" if org else "your personal account",
            env_path=_e(str(self.env_path.resolve())),
            webhook_note=note,
            action=_e(registration_url(self.settings.git_base_url, state, org=org)),
            manifest=_e(json.dumps(manifest)),
            other_target=_USER_LINK if org else _ORG_FORM,
            permissions=_e(
                ", ".join(f"{k}: {v}" for k, v in manifest["default_permissions"].items())
            ),
            events=_e(", ".join(manifest["default_events"])),
        )
        return self._page(200, "Register the GitHub App", body)

    async def callback(self, request: web.Request) -> web.Response:
        if self.registered:
            return self._restart_page(409)
        if not self.states.redeem(request.query.get("state", "")):
            return self._page(
                400,
                "Registration not recognised",
                "<p>This answer from GitHub does not match a registration started here (its "
                "<code>state</code> is missing, wrong, already used or over an hour old). "
                "Nothing was saved.</p><p><a href='/setup'>Start again</a></p>",
            )
        code = request.query.get("code", "")
        if not _CODE.match(code):
            return self._page(
                400,
                "No registration code",
                "<p>GitHub's redirect carried no valid <code>code</code>. Nothing was saved. "
                "<a href='/setup'>Start again</a>.</p>",
            )
        try:
            result = await self._convert(code)
        except gidgethub.BadRequest as exc:
            log.warning("setup.conversion_refused", status=exc.status_code.value)
            return self._page(
                400,
                "GitHub refused the registration code",
                f"<p>GitHub answered {exc.status_code.value} ({_e(str(exc))}). A code works once "
                "and expires after an hour. Nothing was saved. <a href='/setup'>Start "
                "again</a>.</p>",
            )
        except (gidgethub.GitHubException, httpx2.HTTPError) as exc:
            log.warning("setup.conversion_failed", error=type(exc).__name__)
            return self._page(
                502,
                "Could not reach GitHub",
                f"<p>Asking {_e(self.settings.github_api_url)} for the new App's credentials "
                f"failed ({_e(type(exc).__name__)}). Nothing was saved. Check that AIOS can "
                "reach GitHub, then <a href='/setup'>start again</a>.</p>",
            )
        try:
            values = credentials_from_conversion(result)
            await asyncio.to_thread(write_env, self.env_path, values)
        except (ValueError, OSError) as exc:
            # Neither message carries a value: ValueError names a field, OSError a path.
            log.error("setup.credentials_not_saved", path=str(self.env_path), error=str(exc))
            return self._page(
                500,
                "Could not save the credentials",
                f"<p>Saving the App's credentials to <code>{_e(str(self.env_path))}</code> "
                f"failed: {_e(str(exc))}. Fix the cause, delete the App GitHub created (in your "
                "developer settings) and <a href='/setup'>register again</a>.</p>",
            )
        self.registered = True
        log.info("setup.app_registered", app_id=values["APP_ID"], slug=result.get("slug"))
        body = self.templates["done"].substitute(
            html_url=_e(str(result.get("html_url") or self.settings.git_base_url)),
            name=_e(str(result.get("name") or result.get("slug") or "AIOS")),
            app_id=_e(values["APP_ID"]),
            env_path=_e(str(self.env_path.resolve())),
            secret_note="" if result.get("webhook_secret") else _GENERATED_WEBHOOK_NOTE,
        )
        return self._page(200, "GitHub App registered", body)

    async def _convert(self, code: str) -> Mapping[str, Any]:
        async with httpx2.AsyncClient(timeout=30.0) as client:
            gh = GitHubAPI(client, "aios", base_url=self.settings.github_api_url)
            return await gh.post("/app-manifests/{code}/conversions", {"code": code}, data=b"")

    def _restart_page(self, status: int) -> web.Response:
        return self._page(
            status,
            "Already registered",
            f"<p>The App's credentials are saved in <code>{_e(str(self.env_path.resolve()))}"
            "</code>. Restart <code>aios serve</code> to use them.</p>",
        )

    def _page(self, status: int, title: str, body: str) -> web.Response:
        text = self.templates["layout"].substitute(title=_e(title), body=body)
        # no-referrer: the callback URL carries the one-time code; links out must not leak it.
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        return web.Response(status=status, text=text, content_type="text/html", headers=headers)


def setup_routes(
    settings: Settings, *, env_path: Path, public_url: str | None
) -> list[web.RouteDef]:
    """Routes of the registration flow: GET /setup[?org=LOGIN] and GET /setup/callback.

    Args:
        settings: for the GitHub web host (form target) and API URL (code exchange).
        env_path: the dotenv file the credentials are written to.
        public_url: where GitHub reaches this server (`--public-url`/AIOS_PUBLIC_URL).

    Raises:
        ValueError: in production, where credentials come from the environment only.
    """
    if settings.is_production:
        raise ValueError("the /setup flow is not served in production (AIOS_ENV=production)")
    flow = _SetupFlow(settings, env_path, public_url)
    return [web.get("/setup", flow.start), web.get("/setup/callback", flow.callback)]


def _single_quotable(value: str) -> bool:
    """python-dotenv and docker compose read '...' literally except for \\\\ and \\'."""
    return not any(c in value for c in "'\n\r") and "\\\\" not in value and not value.endswith("\\")


def _e(text: str) -> str:
    return html.escape(text, quote=True)
