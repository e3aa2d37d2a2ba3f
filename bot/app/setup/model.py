"""The model step: a provider, key and models, checked with one real request, then saved."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from bot.app.setup.context import SetupContext
from bot.app.setup.envfile import read_env, write_env
from bot.app.setup.pages import e
from bot.settings import held_secrets

log = structlog.get_logger(__name__)

# The names bot/agents/config.py reads. Importing it here would load the model SDKs into
# the web process, which only verifies and stores deliveries.
PROVIDER_VARIABLE = "AIOS_LLM_PROVIDER"
KEY_VARIABLES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
BASE_VARIABLES = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"}
MODELS_VARIABLE = "AIOS_MODELS"
PINNED_MODEL_VARIABLE = "AIOS_MODEL"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


class ModelStep:
    """GET/POST /setup/model and the page after it, GET /setup/done."""

    def __init__(self, ctx: SetupContext) -> None:
        self.ctx = ctx

    async def form(self, request: web.Request) -> web.Response:
        return self._form(200)

    async def save(self, request: web.Request) -> web.StreamResponse:
        ctx = self.ctx
        form = await request.post()
        fields = {k: str(form.get(k, "")).strip() for k in _FIELDS}
        if not ctx.forms.redeem(fields["token"]):
            return self._form(
                400, fields, "This form was sent already or is over an hour old: send it again."
            )
        values, problem = _values(fields)
        if problem is not None:
            return self._form(422, fields, problem)
        provider = fields["provider"]
        # The probe and the SDKs it needs load only when someone uses this step.
        from bot.agents.llm.probe import probe

        result = await probe(
            provider, api_key=fields["api_key"], base_url=values.get(BASE_VARIABLES[provider])
        )
        if not result.ok:
            log.info("setup.model_refused", provider=provider, error=result.error)
            return self._form(422, fields, f"Not saved: {result.error}.")
        remove = [PINNED_MODEL_VARIABLE]
        if provider == "anthropic":
            remove += [MODELS_VARIABLE, BASE_VARIABLES["anthropic"]]
            remove = [r for r in remove if r not in values]
        try:
            await asyncio.to_thread(write_env, ctx.env_path, values, remove=remove)
        except (ValueError, OSError) as exc:
            # Neither message carries a value: ValueError names a variable, OSError a path.
            return self._form(500, fields, f"Not saved to {ctx.env_path}: {exc}")
        seen = ", ".join(result.models) or "none listed"
        where = values.get(BASE_VARIABLES[provider]) or "api.anthropic.com"
        ctx.model_saved = f"{provider} at {where} (models seen: {seen})"
        log.info("setup.model_saved", provider=provider, base_url=where)
        raise web.HTTPSeeOther("/setup/done")

    async def done(self, request: web.Request) -> web.Response:
        ctx = self.ctx
        if ctx.app is None:
            raise web.HTTPSeeOther("/setup")
        model = describe_model(ctx)
        body = ctx.pages.body(
            "done",
            html_url=e(ctx.app.html_url),
            name=e(ctx.app.name),
            app_id=e(ctx.app.app_id),
            model_note=f" Model: {e(model)}.",
            env_path=e(str(ctx.env_path.resolve())),
            secret_note=_GENERATED_WEBHOOK_NOTE if ctx.webhook_secret_generated else "",
            install_url=e(ctx.app.install_url),
            restart=self._restart_step(),
        )
        return ctx.pages.page(200, "AIOS is set up", body)

    def _restart_step(self) -> str:
        env_path = e(str(self.ctx.env_path.resolve()))
        if not self.ctx.settings.is_production:
            return (
                "Restart <code>aios serve</code> (Ctrl-C, then start it again) so it loads "
                "what was saved."
            )
        return (
            f"Hand <code>{env_path}</code> to the deployment and restart it. Fly.io: <code>fly "
            f"ssh console --process-group web -C 'cat {env_path}' | fly secrets import</code>; "
            "docker compose (the registration command mounts this folder): "
            "<code>docker compose up -d</code>."
        )

    def _form(
        self, status: int, fields: Mapping[str, str] | None = None, error: str = ""
    ) -> web.Response:
        ctx = self.ctx
        fields = fields or {}
        provider = fields.get("provider") or _configured(ctx)[0]
        notice = ""
        if ctx.app is not None and ctx.registered_now:
            notice = (
                f"<p class='ok'>GitHub App <strong>{e(ctx.app.name)}</strong> (App ID "
                f"{e(ctx.app.app_id)}) is registered; its credentials were written to "
                f"<code>{e(str(ctx.env_path.resolve()))}</code>. One more step: the model.</p>"
            )
        body = ctx.pages.body(
            "model",
            notice=notice,
            env_path=e(str(ctx.env_path.resolve())),
            error=f"<p class='error' id='error'>{e(error)}</p>" if error else "",
            token=e(ctx.forms.issue()),
            anthropic_checked="checked" if provider != "openai" else "",
            openai_checked="checked" if provider == "openai" else "",
            base_url=e(fields.get("base_url", "")),
            model=e(fields.get("model", "")),
            small_model=e(fields.get("small_model", "")),
        )
        return ctx.pages.page(status, "Choose the model", body)


_FIELDS = ("token", "provider", "api_key", "base_url", "model", "small_model")

_GENERATED_WEBHOOK_NOTE = """ GitHub returned no webhook secret, so AIOS generated one and
saved it there as <code>WEBHOOK_SECRET</code>: when you switch the App's webhook on, paste that
value from the file into the App's settings (Webhook secret)."""


def _values(fields: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """The .env values the form asks for, or a one-line problem with it."""
    provider = fields["provider"]
    if provider not in KEY_VARIABLES:
        return {}, "Choose Anthropic or an OpenAI-compatible server."
    if not fields["api_key"]:
        return {}, "Enter the API key (any text for a server that needs none, like Ollama)."
    base = fields["base_url"].rstrip("/")
    if provider == "openai" and not base:
        base = OPENAI_DEFAULT_BASE_URL
    if base and (urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc):
        return {}, f"The base URL must start with http:// or https://, not {base!r}."
    values = {PROVIDER_VARIABLE: provider, KEY_VARIABLES[provider]: fields["api_key"]}
    if base:
        values[BASE_VARIABLES[provider]] = base
    if provider == "openai":
        if not fields["model"]:
            return {}, "Name the model for code and plans, as the server lists it."
        small = fields["small_model"] or fields["model"]
        routes = {"default": fields["model"], "triage": small, "summary": small, "fallbacks": []}
        values[MODELS_VARIABLE] = json.dumps(routes)
    return values, None


def _configured(ctx: SetupContext) -> tuple[str, bool, str | None]:
    """(provider, whether its key is set, its base URL) as a worker started now would see
    them: the environment over the .env file."""
    env = {**read_env(ctx.env_path), **held_secrets(), **os.environ}
    provider = (env.get(PROVIDER_VARIABLE) or "anthropic").strip().lower()
    keys = [KEY_VARIABLES.get(provider, "")]
    if provider == "anthropic":
        keys.append("ANTHROPIC_AUTH_TOKEN")
    has_key = any((env.get(k) or "").strip() for k in keys)
    return provider, has_key, env.get(BASE_VARIABLES.get(provider, "")) or None


def describe_model(ctx: SetupContext) -> str:
    """The model setup in words, never the key: for the done and status pages."""
    if ctx.model_saved is not None:
        return f"{ctx.model_saved}, saved; loaded at the next start"
    provider, has_key, base = _configured(ctx)
    if not has_key:
        return f"none: {KEY_VARIABLES.get(provider, 'a key')} is not set (open /setup/model)"
    return f"{provider}" + (f" at {base}" if base else "") + " (key set)"
