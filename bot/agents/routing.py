"""Pick a model by role and task; retry transient failures, fall back, break circuits."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from bot.agents.errors import AllModelsFailedError, BadRequestError, LLMError
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
    """Bounded exponential backoff with jitter, honouring the provider's Retry-After."""

    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0

    def delay(self, attempt: int, error: LLMError) -> float | None:
        """Seconds to wait before retry number `attempt + 1`, or None to stop retrying."""
        if attempt >= self.max_retries:
            return None
        if error.retry_after is not None:
            return None if error.retry_after > self.max_retry_after_s else error.retry_after
        backoff = min(self.base_delay_s * 2**attempt, self.max_delay_s)
        return backoff * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not security


class CircuitBreaker:
    """Per-provider breaker: after `threshold` consecutive failures, skip it for `cooldown_s`.

    After the cooldown one trial call is let through (half-open); its outcome closes
    or reopens the circuit.
    """

    def __init__(
        self,
        *,
        threshold: int = 8,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._opened_at: dict[str, float] = {}

    def allow(self, key: str) -> bool:
        opened = self._opened_at.get(key)
        if opened is None:
            return True
        if self._clock() - opened >= self.cooldown_s:
            # Half-open: one trial; a failure reopens at once because the count stays at threshold.
            self._opened_at.pop(key)
            self._failures[key] = self.threshold - 1
            return True
        return False

    def is_open(self, key: str) -> bool:
        return key in self._opened_at

    def success(self, key: str) -> None:
        self._failures.pop(key, None)
        self._opened_at.pop(key, None)

    def failure(self, key: str) -> None:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        if count >= self.threshold and key not in self._opened_at:
            self._opened_at[key] = self._clock()
            log.warning(
                "llm.circuit_open", provider=key, failures=count, cooldown_s=self.cooldown_s
            )


Sleep = Callable[[float], Awaitable[None]]


class ModelRouter:
    """Sends a request to the first model of its chain that answers."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        config: RoutingConfig,
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.providers = dict(providers)
        self.config = config
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep

    def chain(self, role: str, task: str, role_default: ModelRef | None = None) -> list[ModelRef]:
        return self.config.chain(role, task, role_default)

    async def complete(
        self, request: Request, *, role: str, task: str, role_default: ModelRef | None = None
    ) -> tuple[ModelRef, Response]:
        """Returns the model that answered and its response.

        Raises:
            SpendLimitError, AuthError, BadRequestError: at once, never retried.
            AllModelsFailedError: every model stayed rate limited or overloaded.
        """
        errors: list[LLMError] = []
        for ref in self.chain(role, task, role_default):
            provider = self.providers.get(ref.provider)
            if provider is None:
                errors.append(BadRequestError("provider not configured", provider=ref.provider))
                continue
            if not self.breaker.allow(ref.provider):
                errors.append(
                    LLMError(
                        "circuit open after repeated failures",
                        provider=ref.provider,
                        model=ref.model,
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
                    self.breaker.failure(ref.provider)
                    wait = self.retry.delay(attempt, exc)
                    log.warning(
                        "llm.retryable_error",
                        model=str(ref),
                        attempt=attempt + 1,
                        error=exc.message,
                        retry_in_s=wait,
                    )
                    if wait is None or self.breaker.is_open(ref.provider):
                        errors.append(exc)
                        break
                    attempt += 1
                    await self._sleep(wait)
                    continue
                self.breaker.success(ref.provider)
                return ref, response
        summary = "; ".join(str(e) for e in errors) or "no model configured"
        raise AllModelsFailedError(f"no model answered: {summary}", errors)
