"""The setup pages: register the GitHub App from its manifest, choose the model, show status."""

from __future__ import annotations

from pathlib import Path

import structlog
from aiohttp import web

from bot.app.setup.context import SetupContext
from bot.app.setup.envfile import writable_env_path, write_env
from bot.app.setup.guard import SetupCode, is_exposed
from bot.app.setup.manifest import (
    ENV_KEYS,
    PLACEHOLDER_WEBHOOK_URL,
    credentials_from_conversion,
    load_manifest,
    registration_url,
)
from bot.app.setup.model import ModelStep
from bot.app.setup.register import Registration
from bot.app.setup.status import StatusPage
from bot.settings import Settings

__all__ = [
    "ENV_KEYS",
    "PLACEHOLDER_WEBHOOK_URL",
    "credentials_from_conversion",
    "load_manifest",
    "registration_url",
    "setup_routes",
    "write_env",
]

log = structlog.get_logger(__name__)


def setup_routes(
    settings: Settings, *, env_path: Path, public_url: str | None
) -> list[web.RouteDef]:
    """Routes of the setup pages: GET / (status), GET /setup[?org=LOGIN], GET /setup/callback,
    GET|POST /setup/model, GET /setup/done, POST /setup/code.

    When the server is exposed (AIOS_ENV=production, or a public URL not on this machine),
    every /setup page asks for a one-time code, logged here as the server starts.

    Args:
        settings: for the GitHub web host (form target) and API URL (code exchange).
        env_path: the dotenv file the credentials and model settings are written to; a
            deployed server whose working directory is read-only uses AIOS_DATA_DIR/.env.
        public_url: where GitHub reaches this server (`--public-url`/AIOS_PUBLIC_URL).
    """
    exposed = is_exposed(production=settings.is_production, public_url=public_url)
    usable = writable_env_path(env_path, settings.data_dir)
    if usable != env_path:
        usable.parent.mkdir(parents=True, exist_ok=True)
    ctx = SetupContext(settings, usable, public_url, SetupCode() if exposed else None)
    if ctx.gate is not None:
        # The one place the code is shown: whoever reads this server's log may set it up.
        log.warning(f"aios: open {ctx.setup_url} and enter code {ctx.gate.code}")
    registration, model, status = Registration(ctx), ModelStep(ctx), StatusPage(ctx)
    return [
        web.get("/", status.show),
        web.post("/setup/code", ctx.enter_code),
        web.get("/setup", ctx.guarded(registration.start)),
        web.get("/setup/callback", ctx.guarded(registration.callback)),
        web.get("/setup/model", ctx.guarded(model.form)),
        web.post("/setup/model", ctx.guarded(model.save)),
        web.get("/setup/done", ctx.guarded(model.done)),
    ]
