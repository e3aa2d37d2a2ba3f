"""Model price table (USD per million tokens) and the cost of one call's usage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.agents.llm.types import Usage


@dataclass(frozen=True)
class Price:
    """USD per million tokens: base input, output, cache write and cache read."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    @classmethod
    def anthropic(cls, input: float, output: float) -> Price:
        """Anthropic bills 5-minute cache writes at 1.25x and cache reads at 0.1x of input."""
        return cls(input, output, input * 1.25, input * 0.1)


DEFAULT_PRICES: dict[str, Price] = {
    # Anthropic's published list prices (5-minute cache writes). Haiku 5.5 is the tier for
    # prompts up to 100k tokens. Check them against your invoice; AIOS_MODEL_PRICES overrides.
    "claude-fable-5-1": Price(10.0, 50.0, 12.5, 0.25),
    "claude-opus-5-5": Price.anthropic(4.0, 20.0),
    "claude-sonnet-5-5": Price.anthropic(2.0, 10.0),
    "claude-haiku-5-5": Price.anthropic(0.1, 0.5),
    "claude-opus-5": Price.anthropic(5.0, 25.0),
    "claude-sonnet-5": Price.anthropic(2.0, 10.0),
    "claude-opus-4-8": Price.anthropic(5.0, 25.0),
    "claude-opus-4-7": Price.anthropic(5.0, 25.0),
    "claude-opus-4-6": Price.anthropic(5.0, 25.0),
    "claude-opus-4-5": Price.anthropic(5.0, 25.0),
    "claude-opus-4-1": Price.anthropic(15.0, 75.0),
    "claude-opus-4": Price.anthropic(15.0, 75.0),
    "claude-sonnet-4-6": Price.anthropic(3.0, 15.0),
    "claude-sonnet-4-5": Price.anthropic(3.0, 15.0),
    "claude-sonnet-4": Price.anthropic(3.0, 15.0),
    "claude-haiku-4-5": Price.anthropic(1.0, 5.0),
    "gpt-4.1": Price(2.0, 8.0, 2.0, 0.5),
    "gpt-4.1-mini": Price(0.4, 1.6, 0.4, 0.1),
    "gpt-4o": Price(2.5, 10.0, 2.5, 1.25),
    "gpt-4o-mini": Price(0.15, 0.6, 0.15, 0.075),
}
UNKNOWN_MODEL_PRICE = Price.anthropic(3.0, 15.0)
"""Charged for a model missing from the table, so budgets still bind; override with a real price."""


class PriceTable:
    """Prices by model name; dated names (`claude-sonnet-4-5-20250929`) match their family."""

    def __init__(
        self, overrides: Mapping[str, Price] | None = None, *, default: Price = UNKNOWN_MODEL_PRICE
    ) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}
        self._default = default

    def price(self, model: str) -> Price:
        name = model.split(":", 1)[1] if ":" in model else model
        if model in self._prices:
            return self._prices[model]
        if name in self._prices:
            return self._prices[name]
        family = [k for k in self._prices if name.startswith(k + "-") or name.startswith(k + "@")]
        if family:
            return self._prices[max(family, key=len)]
        return self._default

    def known(self, model: str) -> bool:
        return self.price(model) is not self._default or model in self._prices

    def cost(self, model: str, usage: Usage) -> float:
        """USD for one call's usage."""
        p = self.price(model)
        return (
            usage.input_tokens * p.input
            + usage.output_tokens * p.output
            + usage.cache_write_tokens * p.cache_write
            + usage.cache_read_tokens * p.cache_read
        ) / 1_000_000
