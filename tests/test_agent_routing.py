"""Model routing: chains by role and task, retries and rounds, fallback, no retry on spend limit."""

from __future__ import annotations

import pytest

from bot.agents import errors
from bot.agents.breaker import CircuitBreaker
from bot.agents.config import AgentConfig
from bot.agents.llm.anthropic import AnthropicProvider
from bot.agents.llm.types import Message, Request, Text
from bot.agents.routing import ModelRef, ModelRouter, RetryPolicy, RoutingConfig
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import OVERLOADED, RATE_LIMITED, SPEND_LIMIT, Fail, Turn

STRONG = ModelRef("anthropic", "claude-opus-5-5")
MID = ModelRef("anthropic", "claude-sonnet-5-5")
CHEAP = ModelRef("anthropic", "claude-haiku-5-5")
REQUEST = Request("system", (Message("user", (Text("hello"),)),))


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def router(
    model: ScriptedModel,
    config: RoutingConfig | None = None,
    *,
    retries: int = 2,
    breaker: CircuitBreaker | None = None,
) -> tuple[ModelRouter, Sleeps]:
    sleeps = Sleeps()
    provider = AnthropicProvider(
        api_key="k", base_url="http://llm.test", http_client=model.client()
    )
    return (
        ModelRouter(
            {"anthropic": provider},
            config or RoutingConfig(default=(STRONG,), fallbacks=(MID,)),
            retry=RetryPolicy(max_retries=retries),
            breaker=breaker,
            sleep=sleeps,
        ),
        sleeps,
    )


def models_asked(model: ScriptedModel) -> list[str]:
    return [r.model for r in model.requests]


def test_chain_prefers_role_task_then_task_then_role_then_role_default() -> None:
    config = RoutingConfig(
        default=(MID,),
        routes={"cto.plan": (STRONG,), "triage": (CHEAP,), "qa": (MID,)},
        fallbacks=(MID, CHEAP),
    )
    assert config.chain("cto", "plan") == [STRONG, MID, CHEAP]
    assert config.chain("cto", "triage") == [CHEAP, MID]
    assert config.chain("qa", "code") == [MID, CHEAP]
    assert config.chain("backend", "code", role_default=STRONG) == [STRONG, MID, CHEAP]
    assert config.chain("backend", "code") == [MID, CHEAP]


def test_repo_overrides_and_env_config_build_chains() -> None:
    config = AgentConfig.from_env(
        {"AIOS_MODELS": '{"backend": "claude-sonnet-4-6", "fallbacks": ["openai:gpt-4.1"]}'}
    )
    assert config.routing.chain("backend", "code") == [
        ModelRef("anthropic", "claude-sonnet-4-6"),
        ModelRef("openai", "gpt-4.1"),
    ]
    assert config.routing.chain("cto", "triage")[0] == ModelRef("anthropic", "claude-haiku-5-5")
    repo = config.routing.with_overrides({"qa": "claude-opus-5-5"}, "anthropic")
    assert repo.chain("qa", "review")[0] == STRONG


async def test_overloaded_three_times_then_ok_succeeds_within_bounded_attempts() -> None:
    model = ScriptedModel([OVERLOADED, OVERLOADED, OVERLOADED, Turn("finally")])
    route, sleeps = router(model, retries=3)
    ref, response = await route.complete(REQUEST, role="backend", task="code")
    assert (ref, response.message.text) == (STRONG, "finally")
    assert models_asked(model) == [STRONG.model] * 4
    assert sleeps.waits == [0.001, 0.001, 0.001]  # the fake's retry-after-ms


async def test_sustained_overload_falls_back_to_the_next_model() -> None:
    model = ScriptedModel([Turn("from the fallback")], always_fail={STRONG.model: OVERLOADED})
    route, _ = router(model, retries=2)
    ref, response = await route.complete(REQUEST, role="backend", task="code")
    assert ref == MID and response.message.text == "from the fallback"
    assert models_asked(model) == [STRONG.model] * 3 + [MID.model]


async def test_spend_limit_is_never_retried_nor_sent_to_a_fallback() -> None:
    model = ScriptedModel([SPEND_LIMIT, Turn("never")])
    route, sleeps = router(model, retries=5)
    with pytest.raises(errors.SpendLimitError, match="spend limit"):
        await route.complete(REQUEST, role="backend", task="code")
    assert models_asked(model) == [STRONG.model]
    assert sleeps.waits == []


async def test_auth_errors_stop_at_once() -> None:
    model = ScriptedModel([Fail(401, "authentication_error", "invalid x-api-key")])
    route, _ = router(model)
    with pytest.raises(errors.AuthError):
        await route.complete(REQUEST, role="backend", task="code")
    assert len(model.requests) == 1


async def test_every_model_rate_limited_for_good_asks_to_run_later() -> None:
    model = ScriptedModel(always_fail={STRONG.model: RATE_LIMITED, MID.model: RATE_LIMITED})
    route, sleeps = router(model, retries=1, breaker=CircuitBreaker(threshold=1000))
    with pytest.raises(errors.ModelsUnavailableError) as caught:
        await route.complete(REQUEST, role="backend", task="code")
    # Rounds over the chain with growing pauses, until the patience (5 min) is spent.
    rounds = [w for w in sleeps.waits if w >= 5]
    assert rounds == [5, 10, 20, 40, 80, 120]
    assert len(model.requests) == 4 * (len(rounds) + 1)
    assert caught.value.retry_in_s == 120 and caught.value.retryable
    assert [type(e) for e in caught.value.errors] == [errors.RateLimitedError] * 2


async def test_too_long_retry_after_moves_on_without_waiting() -> None:
    slow = Fail(429, "rate_limit_error", "slow down", headers={"retry-after": "3600"})
    model = ScriptedModel([Turn("fallback")], always_fail={STRONG.model: slow})
    route, sleeps = router(model, retries=3)
    ref, _ = await route.complete(REQUEST, role="backend", task="code")
    assert ref == MID and sleeps.waits == []


async def test_circuit_breaker_skips_a_failing_model_until_its_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, cooldown_s=30, clock=lambda: now[0])
    model = ScriptedModel(always_fail={STRONG.model: OVERLOADED, MID.model: OVERLOADED})
    route, _ = router(model, retries=5, breaker=breaker)
    with pytest.raises(errors.ModelsUnavailableError):
        await route.complete(REQUEST, role="backend", task="code", patience_s=0)
    assert [r.model for r in model.requests] == [STRONG.model] * 3 + [MID.model] * 3
    with pytest.raises(errors.ModelsUnavailableError, match="circuit open") as caught:
        await route.complete(REQUEST, role="backend", task="code", patience_s=0)
    assert len(model.requests) == 6 and caught.value.retry_in_s == 30
    now[0] = 31.0
    model.always_fail.clear()
    model.script.append(Turn("recovered"))
    ref, response = await route.complete(REQUEST, role="backend", task="code")
    assert response.message.text == "recovered" and ref == STRONG
    assert not breaker.is_open(str(STRONG)) and breaker.is_open(str(MID))
