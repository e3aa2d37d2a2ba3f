"""What the setup handlers share: settings, the .env path, the App once known, the guards."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bot.app.setup.envfile import read_env
from bot.app.setup.guard import SESSION_COOKIE, OneTimeTokens, SetupCode
from bot.app.setup.manifest import APP_SLUG_VARIABLE
from bot.app.setup.pages import Pages, e
from bot.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RegisteredApp:
    """The GitHub App AIOS runs as, as far as the pages need to name and link to it."""

    app_id: str
    slug: str | None
    name: str
    html_url: str

    @property
    def install_url(self) -> str:
        return f"{self.html_url}/installations/new"


@dataclass
class SetupContext:
    settings: Settings
    env_path: Path
    public_url: str | None
    gate: SetupCode | None
    """Set when the server is exposed (production, or a public URL not on this machine)."""
    pages: Pages = field(default_factory=Pages)
    states: OneTimeTokens = field(default_factory=OneTimeTokens)
    """GitHub's `state` for the manifest flow."""
    forms: OneTimeTokens = field(default_factory=OneTimeTokens)
    """One per model form shown."""
    app: RegisteredApp | None = None
    registered_now: bool = False
    """Registered by this process: its credentials take effect at the next start."""
    webhook_secret_generated: bool = False
    """GitHub returned no webhook secret, so AIOS made one: the App's settings need it too."""
    model_saved: str | None = None
    """What the model step wrote in this process, in words, for the done and status pages."""

    def __post_init__(self) -> None:
        if self.app is None and self.settings.app_id is not None:
            slug = os.environ.get(APP_SLUG_VARIABLE) or read_env(self.env_path).get(
                APP_SLUG_VARIABLE
            )
            base = self.settings.git_base_url.rstrip("/")
            self.app = RegisteredApp(
                app_id=str(self.settings.app_id),
                slug=slug,
                name=slug or f"App {self.settings.app_id}",
                html_url=f"{base}/apps/{slug}" if slug else f"{base}/settings/apps",
            )

    @property
    def setup_url(self) -> str:
        return f"{self.public_url or self.local_url}/setup"

    @property
    def local_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def guarded(self, handler: Handler) -> Handler:
        """`handler` behind the setup code when the server is exposed."""

        async def check(request: web.Request) -> web.StreamResponse:
            if self.gate is not None and not self.gate.admits(request):
                return self.code_page(403)
            return await handler(request)

        return check

    def code_page(self, status: int, error: str = "") -> web.Response:
        why = "AIOS_ENV=production" if self.settings.is_production else "its public URL"
        if self.gate is not None and self.gate.locked:
            error = (
                "Too many wrong codes: setup is locked. Restart the server; it prints a new code."
            )
        elif self.gate is not None and self.gate.code is None:
            error = (
                "This server's code was used already, from another browser. Restart the server "
                "for a new code."
            )
        body = self.pages.body(
            "code",
            why=e(why),
            setup_url=e(self.setup_url),
            error=f"<p class='error'>{e(error)}</p>" if error else "",
        )
        return self.pages.page(status, "Setup code needed", body)

    async def enter_code(self, request: web.Request) -> web.StreamResponse:
        """POST /setup/code: the right code opens a session (a cookie) and goes on to /setup."""
        if self.gate is None:
            raise web.HTTPSeeOther("/setup")
        form = await request.post()
        session = self.gate.enter(str(form.get("code", "")))
        if session is None:
            return self.code_page(403, "That is not this server's setup code.")
        response = web.HTTPSeeOther("/setup")
        response.set_cookie(
            SESSION_COOKIE,
            session,
            path="/",
            httponly=True,
            samesite="Lax",  # GitHub's redirect back is a top-level GET: Lax still sends it
            secure=(self.public_url or "").startswith("https://"),
        )
        raise response
