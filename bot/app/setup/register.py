"""Registering the GitHub App: the manifest form (GET /setup) and GitHub's redirect back."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any

import gidgethub
import httpx2
import structlog
from aiohttp import web
from gidgethub.httpx import GitHubAPI

from bot.app.setup.context import RegisteredApp, SetupContext
from bot.app.setup.envfile import write_env
from bot.app.setup.manifest import credentials_from_conversion, load_manifest, registration_url
from bot.app.setup.pages import e

log = structlog.get_logger(__name__)

_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

_WEBHOOK_OK = "<p>GitHub will deliver webhooks to <code>{hook_url}</code>.</p>"
_WEBHOOK_PROXIED = (
    "<p>GitHub will deliver webhooks to the proxy channel <code>{hook_url}</code> "
    "(WEBHOOK_PROXY_URL), which this server reads: no public address needed.</p>"
)

_ORG_FORM = """<form action="/setup" method="get"><p>Register it for an organisation
instead: <input name="org" placeholder="organisation login" required
pattern="[A-Za-z0-9][A-Za-z0-9-]{0,38}"> <button type="submit">Use organisation</button></p>
</form>"""

_USER_LINK = "<p><a href='/setup'>Register it for your own account instead</a></p>"


class Registration:
    """GET /setup and GET /setup/callback."""

    def __init__(self, ctx: SetupContext) -> None:
        self.ctx = ctx

    async def start(self, request: web.Request) -> web.Response:
        ctx = self.ctx
        if ctx.app is not None:
            return self._registered_page()
        org = request.query.get("org", "").strip() or None
        if org is not None and not _LOGIN.match(org):
            return ctx.pages.page(
                400,
                "Not an organisation name",
                f"<p><code>{e(org)}</code> is not a GitHub organisation login (letters, digits "
                "and single hyphens, at most 39).</p><p><a href='/setup'>Back</a></p>",
            )
        local_url = str(request.url.origin())
        proxy = ctx.settings.webhook_proxy_url
        manifest = load_manifest(ctx.public_url, browser_url=local_url, proxy_url=proxy)
        if proxy:
            note = _WEBHOOK_PROXIED.format(hook_url=e(proxy))
        elif ctx.public_url:
            note = _WEBHOOK_OK.format(hook_url=e(manifest["hook_attributes"]["url"]))
        else:
            note = ctx.pages.body("no_public_url", local_url=e(local_url))
        state = ctx.states.issue()
        body = ctx.pages.body(
            "start",
            web_host=e(ctx.settings.git_base_url),
            target=f"the organisation <code>{e(org)}</code>" if org else "your personal account",
            env_path=e(str(ctx.env_path.resolve())),
            webhook_note=note,
            action=e(registration_url(ctx.settings.git_base_url, state, org=org)),
            manifest=e(json.dumps(manifest)),
            other_target=_USER_LINK if org else _ORG_FORM,
            permissions=e(
                ", ".join(f"{k}: {v}" for k, v in manifest["default_permissions"].items())
            ),
            events=e(", ".join(manifest["default_events"])),
        )
        return ctx.pages.page(200, "Register the GitHub App", body)

    async def callback(self, request: web.Request) -> web.Response:
        ctx = self.ctx
        if ctx.app is not None:
            return self._registered_page(status=409)
        if not ctx.states.redeem(request.query.get("state", "")):
            return ctx.pages.page(
                400,
                "Registration not recognised",
                "<p>This answer from GitHub does not match a registration started here (its "
                "<code>state</code> is missing, wrong, already used or over an hour old). "
                "Nothing was saved.</p><p><a href='/setup'>Start again</a></p>",
            )
        code = request.query.get("code", "")
        if not _CODE.match(code):
            return ctx.pages.page(
                400,
                "No registration code",
                "<p>GitHub's redirect carried no valid <code>code</code>. Nothing was saved. "
                "<a href='/setup'>Start again</a>.</p>",
            )
        try:
            result = await self._convert(code)
        except gidgethub.BadRequest as exc:
            log.warning("setup.conversion_refused", status=exc.status_code.value)
            return ctx.pages.page(
                400,
                "GitHub refused the registration code",
                f"<p>GitHub answered {exc.status_code.value} ({e(str(exc))}). A code works once "
                "and expires after an hour. Nothing was saved. <a href='/setup'>Start "
                "again</a>.</p>",
            )
        except (gidgethub.GitHubException, httpx2.HTTPError) as exc:
            log.warning("setup.conversion_failed", error=type(exc).__name__)
            return ctx.pages.page(
                502,
                "Could not reach GitHub",
                f"<p>Asking {e(ctx.settings.github_api_url)} for the new App's credentials "
                f"failed ({e(type(exc).__name__)}). Nothing was saved. Check that AIOS can "
                "reach GitHub, then <a href='/setup'>start again</a>.</p>",
            )
        try:
            values = credentials_from_conversion(result)
            await asyncio.to_thread(write_env, ctx.env_path, values)
        except (ValueError, OSError) as exc:
            # Neither message carries a value: ValueError names a field, OSError a path.
            log.error("setup.credentials_not_saved", path=str(ctx.env_path), error=str(exc))
            return ctx.pages.page(
                500,
                "Could not save the credentials",
                f"<p>Saving the App's credentials to <code>{e(str(ctx.env_path))}</code> "
                f"failed: {e(str(exc))}. Fix the cause, delete the App GitHub created (in your "
                "developer settings) and <a href='/setup'>register again</a>.</p>",
            )
        slug = str(result["slug"])
        ctx.app = RegisteredApp(
            app_id=values["APP_ID"],
            slug=slug,
            name=str(result.get("name") or slug),
            html_url=str(
                result.get("html_url") or f"{ctx.settings.git_base_url.rstrip('/')}/apps/{slug}"
            ),
        )
        ctx.registered_now = True
        ctx.webhook_secret_generated = not result.get("webhook_secret")
        log.info("setup.app_registered", app_id=values["APP_ID"], slug=slug)
        # Off the callback URL at once: it carries GitHub's one-time code.
        raise web.HTTPSeeOther("/setup/model")

    async def _convert(self, code: str) -> Mapping[str, Any]:
        async with httpx2.AsyncClient(timeout=30.0) as client:
            gh = GitHubAPI(client, "aios", base_url=self.ctx.settings.github_api_url)
            return await gh.post("/app-manifests/{code}/conversions", {"code": code}, data=b"")

    def _registered_page(self, status: int = 200) -> web.Response:
        ctx = self.ctx
        assert ctx.app is not None
        restart = " Restart <code>aios serve</code> to use them." if ctx.registered_now else ""
        body = ctx.pages.body(
            "registered",
            slug=e(ctx.app.slug or ctx.app.name),
            app_id=e(ctx.app.app_id),
            env_path=e(str(ctx.env_path.resolve())),
            restart_note=restart,
            model=e(ctx.model_saved or "not set up here yet"),
            install_url=e(ctx.app.install_url),
        )
        return ctx.pages.page(status, "Already registered", body)
