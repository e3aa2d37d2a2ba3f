"""Pick a model by role and task; ride out rate limits and overloads, fall back, break circuits."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from bot.agents.breaker import Breaker, CircuitBreaker
from bot.agents.errors import (
    AllModelsFailedError,
    BadRequestError,
    LLMError,
    ModelsUnavailableError,
    OverloadedError,
)
from bot.agents.llm.types import Provider, Request, Response

log = structlog.get_logger(__name__)

PROVIDERS = ("anthropic", "openai")


@dataclass(frozen=True)
class ModelRef:
    """A model at a provider, written `provider:model` (the provider defaults per deployment)."""

    provider: str
    model: str

    @classmethod
    def parse(cls, spec: str, default_provider: str = "anthropic") -> ModelRef:
        spec = spec.strip()
        provider, sep, model = spec.partition(":")
        if sep and provider in PROVIDERS:
            return cls(provider, model)
        return cls(default_provider, spec)

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True)
class RoutingConfig:
    """Model chains by `role.task`, `task` or `role` key, then the role's default, then `default`.

    `fallbacks` are appended to every chain (without repeats), so a strong model that
    stays overloaded falls back to the next one.
    """

    default: tuple[ModelRef, ...]
    routes: Mapping[str, tuple[ModelRef, ...]] = field(default_factory=dict)
    fallbacks: tuple[ModelRef, ...] = ()

    def chain(self, role: str, task: str, role_default: ModelRef | None = None) -> list[ModelRef]:
        primary = (
            self.routes.get(f"{role}.{task}")
            or self.routes.get(task)
            or self.routes.get(role)
            or ((role_default,) if role_default else ())
            or self.default
        )
        chain: list[ModelRef] = []
        for ref in (*primary, *self.fallbacks):
            if ref not in chain:
                chain.append(ref)
        return chain

    def with_overrides(
        self, overrides: Mapping[str, str | Sequence[str]], provider: str
    ) -> RoutingConfig:
        """A copy with routes from a mapping like `.github/aios.yml`'s `agents.models`."""
        routes = dict(self.routes)
        for key, value in overrides.items():
            specs = [value] if isinstance(value, str) else list(value)
            routes[key] = tuple(ModelRef.parse(s, provider) for s in specs)
        return RoutingConfig(self.default, routes, self.fallbacks)


@dataclass(frozen=True)
class RetryPolicy:
    """How a call rides out rate limits and overloads: quick retries of one model (honouring
    its retry-after), then the next model, then rounds over the whole chain with pauses that
    grow, for minutes: a 529 storm lasts minutes, and a job that gives up early fails its
    work item for nothing."""

    max_retries: int = 2
    """Quick retries of one model before the next model of the chain is asked."""
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0
    """A model asking for a longer pause is left for the next one (the round's pause honours it)."""
    patience_s: float = 300.0
    """Longest one call spends pausing between rounds before its job is rescheduled."""
    round_delay_s: float = 5.0
    """The pause after the first round over the chain failed; doubles each round."""
    max_round_delay_s: float = 120.0

    def delay(self, attempt: int, error: LLMError) -> float | None:
        """Seconds to wait before retry number `attempt + 1` of one model, or None to move on."""
        if attempt >= self.max_retries:
            return None
        if error.retry_after is not None:
            return None if error.retry_after > self.max_retry_after_s else error.retry_after
        backoff = min(self.base_delay_s * 2**attempt, self.max_delay_s)
        return backoff * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not security

    def round_pause(self, rounds: int, ready_in: list[float]) -> float:
        """The pause after the `rounds`-th failed round: its backoff, or longer when no model
        of the chain may be tried before (`ready_in`: retry-after values, open circuits)."""
        backoff = min(self.max_round_delay_s, self.round_delay_s * 2 ** (rounds - 1))
        return max(backoff, min(ready_in)) if ready_in else backoff


Sleep = Callable[[float], Awaitable[None]]


class ModelRouter:
    """Sends a request to the first model of its chain that answers.

    The breaker (per provider and model) is shared by every job when it is a `RedisBreaker`:
    a model one job finds overloaded is skipped by all until its cooldown ends.
    """

    def __init__(
        self,
        providers: Mapping[str, Provider],
        config: RoutingConfig,
        *,
        retry: RetryPolicy | None = None,
        breaker: Breaker | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.providers = dict(providers)
        self.config = config
        self.retry = retry or RetryPolicy()
        self.breaker: Breaker = breaker or CircuitBreaker()
        self._sleep = sleep

    def chain(self, role: str, task: str, role_default: ModelRef | None = None) -> list[ModelRef]:
        return self.config.chain(role, task, role_default)

    async def complete(
        self,
        request: Request,
        *,
        role: str,
        task: str,
        role_default: ModelRef | None = None,
        patience_s: float | None = None,
    ) -> tuple[ModelRef, Response]:
        """Returns the model that answered and its response.

        `patience_s` (default: the policy's) bounds the pauses between rounds over the chain;
        0 means no pause at all: the caller would rather run again later.

        Raises:
            SpendLimitError, AuthError, BadRequestError: at once, never retried.
            ModelsUnavailableError: every model stayed rate limited, overloaded or circuit-open
                past the patience; `retry_in_s` says when to try again (reschedule the job).
            AllModelsFailedError: no model of the chain can be asked at all.
        """
        patience = self.retry.patience_s if patience_s is None else patience_s
        chain = self.chain(role, task, role_default)
        waited, rounds = 0.0, 0
        while True:
            answer, errors, ready_in = await self._round(request, chain)
            if answer is not None:
                return answer
            summary = "; ".join(str(e) for e in errors) or "no model configured"
            if not any(e.retryable for e in errors):
                raise AllModelsFailedError(f"no model answered: {summary}", errors)
            rounds += 1
            pause = self.retry.round_pause(rounds, ready_in)
            if waited + pause > patience:
                raise ModelsUnavailableError(
                    f"no model answered: {summary}", errors, retry_in_s=pause
                )
            log.warning("llm.all_models_failed", round=rounds, pause_s=round(pause, 1))
            waited += pause
            await self._sleep(pause)

    async def _round(
        self, request: Request, chain: list[ModelRef]
    ) -> tuple[tuple[ModelRef, Response] | None, list[LLMError], list[float]]:
        """One pass over the chain: the answer, or each model's last error and when each may
        be tried again."""
        errors: list[LLMError] = []
        ready_in: list[float] = []
        for ref in chain:
            provider = self.providers.get(ref.provider)
            if provider is None:
                errors.append(BadRequestError("provider not configured", provider=ref.provider))
                continue
            key = str(ref)
            closed_in = await self.breaker.allow(key)
            if closed_in is not None:
                ready_in.append(closed_in)
                errors.append(
                    OverloadedError(
                        f"circuit open after repeated failures; next try in {closed_in:.0f}s",
                        provider=ref.provider,
                        model=ref.model,
                        retry_after=closed_in,
                    )
                )
                continue
            attempt = 0
            while True:
                try:
                    response = await provider.complete(request, model=ref.model)
                except LLMError as exc:
                    if not exc.retryable:
                        raise
                    opened = await self.breaker.failure(key)
                    wait = self.retry.delay(attempt, exc)
                    log.warning(
                        "llm.retryable_error",
                        model=key,
                        attempt=attempt + 1,
                        error=exc.message,
                        retry_in_s=wait,
                    )
                    if wait is None or opened:
                        errors.append(exc)
                        if exc.retry_after is not None:
                            ready_in.append(exc.retry_after)
                        break
                    attempt += 1
                    await self._sleep(wait)
                    continue
                await self.breaker.success(key)
                return (ref, response), errors, ready_in
        return None, errors, ready_in
