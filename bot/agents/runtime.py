"""Everything an agent run needs besides its task: providers and router, ledger, prices, budgets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx2

from bot.agents.breaker import Breaker
from bot.agents.budget import Budgets
from bot.agents.config import AgentConfig
from bot.agents.ledger import Ledger
from bot.agents.llm.anthropic import AnthropicProvider
from bot.agents.llm.openai import OpenAIProvider
from bot.agents.llm.types import Provider
from bot.agents.pricing import PriceTable
from bot.agents.roster import Role, Roster, load_roster
from bot.agents.routing import ModelRef, ModelRouter, Sleep


def build_providers(
    config: AgentConfig, *, http_client: httpx2.AsyncClient | None = None
) -> dict[str, Provider]:
    """The selected provider always, and the other one too when its key is set."""
    providers: dict[str, Provider] = {}
    if config.provider == "anthropic" or config.anthropic_api_key:
        providers["anthropic"] = AnthropicProvider(
            api_key=config.anthropic_api_key,
            base_url=config.anthropic_base_url,
            http_client=http_client,
        )
    if config.provider == "openai" or config.openai_api_key:
        providers["openai"] = OpenAIProvider(
            api_key=config.openai_api_key, base_url=config.openai_base_url, http_client=http_client
        )
    return providers


@dataclass
class AgentRuntime:
    """What one agent run stands on; built per job. The breaker it is given (`RedisBreaker` in
    workers) carries what other jobs learned about the models."""

    config: AgentConfig
    router: ModelRouter
    ledger: Ledger
    prices: PriceTable
    roster: Roster
    budgets: Budgets = field(default_factory=Budgets)

    @classmethod
    def from_config(
        cls,
        config: AgentConfig,
        *,
        ledger: Ledger,
        http_client: httpx2.AsyncClient | None = None,
        breaker: Breaker | None = None,
        sleep: Sleep = asyncio.sleep,
        roster: Roster | None = None,
    ) -> AgentRuntime:
        router = ModelRouter(
            build_providers(config, http_client=http_client),
            config.routing,
            retry=config.retry,
            breaker=breaker,
            sleep=sleep,
        )
        return cls(
            config=config,
            router=router,
            ledger=ledger,
            prices=PriceTable(config.prices),
            roster=roster or load_roster(),
            budgets=config.budgets,
        )

    def role_model(self, role: Role) -> ModelRef | None:
        """The roster's default model for `role`, when it belongs to the chosen provider and no
        single model is pinned (AIOS_MODEL)."""
        if not self.config.use_role_models:
            return None
        ref = ModelRef.parse(role.model, self.config.provider)
        return ref if ref.provider == self.config.provider else None

    def secrets(self) -> list[str]:
        return self.config.secrets()

    async def aclose(self) -> None:
        for provider in self.router.providers.values():
            await provider.aclose()
