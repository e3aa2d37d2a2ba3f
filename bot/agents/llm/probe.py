"""One cheap real request to a model provider (list its models): does this key work there?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2

from bot.agents.llm.openai import DEFAULT_BASE_URL as OPENAI_DEFAULT_BASE_URL
from bot.agents.llm.openai import auth_headers

ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"
PROBE_TIMEOUT_S = 15.0
"""Listing models answers in well under a second; a server that takes longer is not usable."""
MODELS_SHOWN = 5
"""How many model names the result carries: enough to recognise the server."""
KEY_REFUSED = "the key was refused"


@dataclass(frozen=True)
class ProbeResult:
    """What one models listing said: ok with a few model names, or one line saying why not.

    `error` never holds the key nor the server's own error text (which may echo it).
    """

    ok: bool
    models: tuple[str, ...] = ()
    error: str | None = None


async def probe(provider: str, *, api_key: str, base_url: str | None) -> ProbeResult:
    """List the models `provider` offers at `base_url` with `api_key`: one request, no retry.

    Args:
        provider: "anthropic" (GET {base}/v1/models through the SDK) or "openai" (any
            OpenAI-compatible server: GET {base}/models).
        api_key: the key to try.
        base_url: the provider's base URL as AIOS reads it (ANTHROPIC_BASE_URL without /v1,
            OPENAI_BASE_URL with it); None for the provider's public API.
    """
    if provider == "anthropic":
        return await _probe_anthropic(api_key, base_url or ANTHROPIC_DEFAULT_BASE_URL)
    if provider == "openai":
        return await _probe_openai(api_key, base_url or OPENAI_DEFAULT_BASE_URL)
    return ProbeResult(False, error=f"unknown provider {provider!r}: use anthropic or openai")


async def _probe_anthropic(api_key: str, base: str) -> ProbeResult:
    client = anthropic.AsyncAnthropic(
        api_key=api_key, base_url=base, max_retries=0, timeout=PROBE_TIMEOUT_S
    )
    try:
        page = await client.models.list(limit=MODELS_SHOWN)
    except (anthropic.AuthenticationError, anthropic.PermissionDeniedError):
        return ProbeResult(False, error=KEY_REFUSED)
    except anthropic.APIConnectionError as exc:
        return ProbeResult(False, error=_unreachable(base, exc))
    except anthropic.APIStatusError as exc:
        return ProbeResult(False, error=_status_error(base, "/v1/models", exc.status_code))
    finally:
        await client.close()
    return ProbeResult(True, models=tuple(model.id for model in page.data[:MODELS_SHOWN]))


async def _probe_openai(api_key: str, base: str) -> ProbeResult:
    url = base.rstrip("/") + "/models"
    async with httpx2.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
        try:
            answer = await client.get(url, headers=auth_headers(api_key, base))
        except httpx2.HTTPError as exc:
            return ProbeResult(False, error=_unreachable(base, exc))
    if answer.status_code in (401, 403):
        return ProbeResult(False, error=KEY_REFUSED)
    if answer.status_code >= 400:
        return ProbeResult(False, error=_status_error(base, "/models", answer.status_code))
    try:
        body: Any = answer.json()
        models = tuple(str(m["id"]) for m in body["data"][:MODELS_SHOWN])
    except (ValueError, KeyError, TypeError):
        return ProbeResult(
            False, error=f"{base} answered GET /models with something not a model list"
        )
    return ProbeResult(True, models=models)


def _unreachable(base: str, exc: Exception) -> str:
    timed_out = isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException)
    return f"cannot reach {base}" + (" (no answer in time)" if timed_out else "")


def _status_error(base: str, path: str, status: int) -> str:
    if status == 404:
        return f"{base} has no {path} (404): check the base URL"
    return f"{base} answered {status} to GET {path}"
