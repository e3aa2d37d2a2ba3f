"""Which variable holds each provider's model key: light enough for the web process to ask."""

from __future__ import annotations

import os
from collections.abc import Mapping

from dotenv import dotenv_values

from bot.settings import held_secrets

PROVIDER_VARIABLE = "AIOS_LLM_PROVIDER"
KEY_VARIABLES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
"""The key each provider's requests carry (Anthropic also takes ANTHROPIC_AUTH_TOKEN)."""
ALSO_ACCEPTED = {"anthropic": ("ANTHROPIC_AUTH_TOKEN",), "openai": ()}


def missing_model_key(environ: Mapping[str, str] | None = None) -> str | None:
    """What `AgentConfig.from_env(environ).missing_key()` answers, without importing the LLM
    SDKs: the variable to set when the chosen provider has no key, else None.

    An unknown provider names AIOS_LLM_PROVIDER. Without `environ`: `agent_environment()`.
    """
    env = agent_environment() if environ is None else environ
    provider = env.get(PROVIDER_VARIABLE, "").strip().lower() or "anthropic"
    if provider not in KEY_VARIABLES:
        return PROVIDER_VARIABLE
    names = (KEY_VARIABLES[provider], *ALSO_ACCEPTED[provider])
    return None if any(env.get(name, "").strip() for name in names) else KEY_VARIABLES[provider]


def agent_environment() -> dict[str, str]:
    """What the agent runtime's settings are read from: `.env` (where the setup pages' model
    step writes), under the keys `hold_secrets` took out of the environment, under the
    process environment, which wins."""
    saved = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**saved, **held_secrets(), **os.environ}
