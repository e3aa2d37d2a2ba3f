"""Agent runtime settings from the environment: providers, routes, prices, budgets, sandbox."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.agents.budget import Budgets, ceilings_from
from bot.agents.fail_closed import ISOLATED, sandbox_mode
from bot.agents.llm.openai import DEFAULT_BASE_URL as OPENAI_DEFAULT_BASE_URL
from bot.agents.model_keys import KEY_VARIABLES, agent_environment
from bot.agents.pricing import Price
from bot.agents.routing import PROVIDERS, ModelRef, RetryPolicy, RoutingConfig
from bot.agents.sandbox import SandboxLimits
from bot.environment.disk import DiskBudget
from bot.settings import SettingsError

DEFAULT_ROUTES: dict[str, dict[str, Any]] = {
    "anthropic": {
        "default": ["claude-sonnet-5-5"],
        "triage": ["claude-haiku-5-5"],
        "summary": ["claude-haiku-5-5"],
        "fallbacks": ["claude-sonnet-5-5", "claude-sonnet-4-6", "claude-haiku-5-5"],
    },
    "openai": {
        "default": ["gpt-4.1"],
        "triage": ["gpt-4.1-mini"],
        "summary": ["gpt-4.1-mini"],
        "fallbacks": ["gpt-4.1", "gpt-4.1-mini"],
    },
}


@dataclass(frozen=True)
class AgentConfig:
    provider: str = "anthropic"
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str = OPENAI_DEFAULT_BASE_URL
    routing: RoutingConfig = field(
        default_factory=lambda: _routing(DEFAULT_ROUTES["anthropic"], "anthropic")
    )
    use_role_models: bool = True
    """Whether the roster's per-role default model applies (off when AIOS_MODEL pins one model)."""
    prices: Mapping[str, Price] = field(default_factory=dict)
    budgets: Budgets = field(default_factory=Budgets)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_steps: int = 40
    max_tokens: int = 8192
    allow_workflow_edits: bool = False
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
    sandbox_env_allow: tuple[str, ...] = ()
    sandbox_mode: str = ISOLATED
    """AIOS_SANDBOX: `unisolated` runs commands without isolation where bubblewrap cannot."""
    data_dir: Path = Path(".aios")
    disk: DiskBudget | None = None

    def secrets(self) -> list[str]:
        return [s for s in (self.anthropic_api_key, self.openai_api_key) if s]

    def missing_key(self) -> str | None:
        """The variable to set when the chosen provider has no key, else None."""
        key = self.anthropic_api_key if self.provider == "anthropic" else self.openai_api_key
        return None if key else KEY_VARIABLES[self.provider]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentConfig:
        """Raises SettingsError naming the first malformed variable. Without `environ`: the
        process environment and the keys `hold_secrets` took out of it, over `.env` (where
        the setup pages' model step writes)."""
        env: Mapping[str, str] = agent_environment() if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        provider = (get("AIOS_LLM_PROVIDER") or "anthropic").lower()
        if provider not in PROVIDERS:
            raise SettingsError(
                "AIOS_LLM_PROVIDER", f"must be one of {', '.join(PROVIDERS)}, got {provider!r}"
            )
        routes: dict[str, Any] = dict(DEFAULT_ROUTES[provider])
        use_role_models = True
        if get("AIOS_MODELS"):
            routes.update(_json_object("AIOS_MODELS", get("AIOS_MODELS") or ""))
        if get("AIOS_MODEL"):
            routes = {"default": [get("AIOS_MODEL")], "fallbacks": []}
            use_role_models = False
        limits = SandboxLimits(
            timeout_s=_number("AIOS_SANDBOX_TIMEOUT_S", get("AIOS_SANDBOX_TIMEOUT_S"), 300.0),
            memory_bytes=int(_number("AIOS_SANDBOX_MEMORY_MB", get("AIOS_SANDBOX_MEMORY_MB"), 4096))
            << 20,
            max_processes=int(
                _number("AIOS_SANDBOX_MAX_PROCESSES", get("AIOS_SANDBOX_MAX_PROCESSES"), 256)
            ),
            max_output_bytes=int(
                _number("AIOS_SANDBOX_MAX_OUTPUT_KB", get("AIOS_SANDBOX_MAX_OUTPUT_KB"), 64)
            )
            << 10,
        )
        return cls(
            provider=provider,
            anthropic_api_key=get("ANTHROPIC_API_KEY") or get("ANTHROPIC_AUTH_TOKEN"),
            anthropic_base_url=get("ANTHROPIC_BASE_URL"),
            openai_api_key=get("OPENAI_API_KEY"),
            openai_base_url=get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE_URL,
            routing=_routing(routes, provider),
            use_role_models=use_role_models,
            prices=_prices(get("AIOS_MODEL_PRICES")),
            budgets=_ceilings(env),
            retry=RetryPolicy(
                max_retries=int(_number("AIOS_LLM_MAX_RETRIES", get("AIOS_LLM_MAX_RETRIES"), 2)),
                patience_s=_number("AIOS_LLM_PATIENCE_S", get("AIOS_LLM_PATIENCE_S"), 300.0),
            ),
            max_steps=int(_number("AIOS_AGENT_MAX_STEPS", get("AIOS_AGENT_MAX_STEPS"), 40)),
            max_tokens=int(_number("AIOS_LLM_MAX_TOKENS", get("AIOS_LLM_MAX_TOKENS"), 8192)),
            allow_workflow_edits=_bool(
                "AIOS_ALLOW_WORKFLOW_EDITS", get("AIOS_ALLOW_WORKFLOW_EDITS")
            ),
            sandbox=limits,
            sandbox_env_allow=tuple(
                n.strip() for n in (get("AIOS_SANDBOX_ENV_ALLOW") or "").split(",") if n.strip()
            ),
            data_dir=Path(get("AIOS_DATA_DIR") or ".aios"),
            disk=DiskBudget.from_env(env, Path(get("AIOS_DATA_DIR") or ".aios")),
            sandbox_mode=sandbox_mode(env),
        )


def _routing(routes: Mapping[str, Any], provider: str) -> RoutingConfig:
    def refs(name: str, value: Any) -> tuple[ModelRef, ...]:
        specs = [value] if isinstance(value, str) else value
        if not isinstance(specs, list) or not all(isinstance(s, str) and s.strip() for s in specs):
            raise SettingsError("AIOS_MODELS", f"{name!r} must be a model name or a list of them")
        return tuple(ModelRef.parse(s, provider) for s in specs)

    default = refs("default", routes.get("default") or DEFAULT_ROUTES[provider]["default"])
    fallbacks = refs("fallbacks", routes.get("fallbacks") or [])
    other = {k: refs(k, v) for k, v in routes.items() if k not in ("default", "fallbacks")}
    return RoutingConfig(default=default, routes=other, fallbacks=fallbacks)


def _json_object(name: str, raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(name, f"must be a JSON object: {exc.msg}") from None
    if not isinstance(value, dict):
        raise SettingsError(name, 'must be a JSON object, e.g. {"triage": "claude-haiku-4-5"}')
    return value


def _prices(raw: str | None) -> dict[str, Price]:
    if raw is None:
        return {}
    prices = {}
    for model, value in _json_object("AIOS_MODEL_PRICES", raw).items():
        try:
            if isinstance(value, dict):
                prices[model] = Price(
                    float(value["input"]),
                    float(value["output"]),
                    float(value.get("cache_write", value["input"])),
                    float(value.get("cache_read", value["input"])),
                )
            else:
                prices[model] = Price(*(float(v) for v in value))
        except (KeyError, TypeError, ValueError):
            raise SettingsError(
                "AIOS_MODEL_PRICES",
                f"{model!r}: give USD per million tokens as "
                '{"input": 3, "output": 15, "cache_write": 3.75, "cache_read": 0.3} '
                "or [3, 15, 3.75, 0.3]",
            ) from None
    return prices


def _number(name: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"must be a number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(name, f"must not be negative, got {raw!r}")
    return value


def _ceilings(env: Mapping[str, str]) -> Budgets:
    try:
        return ceilings_from(env)
    except ValueError as exc:
        variable, _, problem = str(exc).partition(": ")
        raise SettingsError(variable, problem) from None


def _bool(name: str, raw: str | None) -> bool:
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(name, f"must be true or false, got {raw!r}")
