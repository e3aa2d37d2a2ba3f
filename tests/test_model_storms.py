"""Model API storms: 529s ridden out for minutes, one breaker in Redis for every job, jobs
rescheduled rather than failed, and a spend limit that pauses the item and tells the operator."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest
import redis
import redis.asyncio

from bot.agents import errors
from bot.agents.breaker import RedisBreaker
from bot.agents.llm.anthropic import AnthropicProvider
from bot.agents.llm.types import Message, Request, Text
from bot.agents.routing import ModelRef, ModelRouter, RoutingConfig
from bot.app import embedded_redis
from bot.runtime.counters import JOB_RETRIES_KEY
from bot.testbed.github import FakeGitHub
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import OVERLOADED, SPEND_LIMIT, Fail, Turn, finish
from tests.serve_harness import REPO, Serve, wait_for

PINNED = ModelRef("anthropic", "claude-sonnet-5-5")
OTHER = ModelRef("anthropic", "claude-haiku-5-5")
REQUEST = Request("system", (Message("user", (Text("hello"),)),))
STORMY = Fail(529, "overloaded_error", "Overloaded", headers={"retry-after": "20"})


class Sleeps:
    """The router's injected sleep: records each pause and lets no time pass."""

    def __init__(self, clock: list[float] | None = None) -> None:
        self.waits: list[float] = []
        self._clock = clock

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self._clock is not None:
            self._clock[0] += seconds


def router(
    model: ScriptedModel, breaker: RedisBreaker, *chain: ModelRef, sleeps: Sleeps | None = None
) -> tuple[ModelRouter, Sleeps]:
    sleeps = sleeps or Sleeps()
    provider = AnthropicProvider(
        api_key="k", base_url="http://llm.test", http_client=model.client()
    )
    config = RoutingConfig(default=chain or (PINNED,))
    return ModelRouter({"anthropic": provider}, config, breaker=breaker, sleep=sleeps), sleeps


async def test_a_pinned_model_rides_out_minutes_of_529s_honouring_retry_after(
    aredis: redis.asyncio.Redis,
) -> None:
    """Three quick 529s used to fail the work item; a storm lasts minutes."""
    model = ScriptedModel([STORMY] * 8 + [Turn("at last")])
    route, sleeps = router(model, RedisBreaker(aredis, threshold=100))
    ref, response = await route.complete(REQUEST, role="backend", task="code")
    assert (ref, response.message.text) == (PINNED, "at last")
    assert len(model.requests) == 9
    assert all(wait >= 20 for wait in sleeps.waits)  # never sooner than the API asked
    assert sum(sleeps.waits) >= 150  # minutes, not seconds


async def test_a_call_with_no_patience_left_asks_to_run_later_instead_of_failing(
    aredis: redis.asyncio.Redis,
) -> None:
    model = ScriptedModel(always_fail={PINNED.model: STORMY})
    route, _ = router(model, RedisBreaker(aredis, threshold=100))
    with pytest.raises(errors.ModelsUnavailableError) as caught:
        await route.complete(REQUEST, role="backend", task="code", patience_s=0)
    assert caught.value.retry_in_s >= 20
    assert caught.value.retryable


async def test_one_jobs_storm_opens_the_circuit_for_every_job(redis_url: str) -> None:
    """Two routers, as two jobs in two work horses build them, sharing only Redis."""
    first_client = redis.asyncio.Redis.from_url(redis_url)
    second_client = redis.asyncio.Redis.from_url(redis_url)
    try:
        storm = ScriptedModel(always_fail={PINNED.model: OVERLOADED})
        first, _ = router(storm, RedisBreaker(first_client, threshold=3))
        with pytest.raises(errors.ModelsUnavailableError):
            await first.complete(REQUEST, role="backend", task="code", patience_s=0)
        assert len(storm.requests) == 3  # the third failure opened the circuit

        calm = ScriptedModel([Turn("never asked")])
        second, _ = router(calm, RedisBreaker(second_client, threshold=3))
        with pytest.raises(errors.ModelsUnavailableError, match="circuit open") as caught:
            await second.complete(REQUEST, role="backend", task="code", patience_s=0)
        assert calm.requests == []  # skipped: the other job's storm counts for it
        assert 25 <= caught.value.retry_in_s <= 30  # the cooldown left: when to run again
    finally:
        await first_client.aclose()
        await second_client.aclose()


async def test_the_circuit_is_per_model_so_the_chain_falls_back(
    aredis: redis.asyncio.Redis,
) -> None:
    breaker = RedisBreaker(aredis, threshold=2)
    for _ in range(2):
        await breaker.failure(str(PINNED))
    model = ScriptedModel([Turn("from the other model")])
    route, _ = router(model, breaker, PINNED, OTHER)
    ref, _response = await route.complete(REQUEST, role="backend", task="code", patience_s=0)
    assert ref == OTHER and [r.model for r in model.requests] == [OTHER.model]


async def test_after_the_cooldown_one_trial_call_decides(aredis: redis.asyncio.Redis) -> None:
    now = [1000.0]
    breaker = RedisBreaker(aredis, threshold=2, cooldown_s=30, clock=lambda: now[0])
    for _ in range(2):
        await breaker.failure(str(PINNED))
    assert await breaker.allow(str(PINNED)) == pytest.approx(30)
    now[0] += 31
    assert await breaker.allow(str(PINNED)) is None  # the trial
    assert await breaker.allow(str(PINNED)) is not None  # others wait for its outcome
    assert await breaker.failure(str(PINNED))  # the trial failed: open again, for longer
    assert await breaker.allow(str(PINNED)) == pytest.approx(60)
    now[0] += 61
    assert await breaker.allow(str(PINNED)) is None
    await breaker.success(str(PINNED))
    assert await breaker.allow(str(PINNED)) is None  # closed
    assert await breaker.allow(str(PINNED)) is None


# -- a real `aios serve`: jobs rescheduled, items paused --------------------------------------


def metrics_text(serve: Serve) -> str:
    with urllib.request.urlopen(serve.url + "/metrics", timeout=5) as response:
        return str(response.read().decode())


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text, or None."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match[1] for k, v in labels.items()):
            return float(match[2])
    return None


def progress_body(fake: FakeGitHub, number: int) -> str:
    bodies = [
        c.body for c in fake.comments(REPO, number) if c.body.startswith("<!-- aios:progress item=")
    ]
    return bodies[-1] if bodies else ""


def test_a_job_whose_models_are_all_down_is_rescheduled_not_failed(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    scripted_model.always_fail.update(
        {m: OVERLOADED for m in ("claude-opus-5-5", "claude-sonnet-5-5", "claude-sonnet-4-6")}
    )
    scripted_model.always_fail["claude-haiku-5-5"] = OVERLOADED
    serve = start_serve(workers=1)
    github_fake.webhook_url = f"{serve.url}/webhook"
    url = embedded_redis.discover(serve.data_dir / "redis")
    assert url is not None
    client = redis.Redis.from_url(url)
    try:
        issue = github_fake.add_issue(REPO, "Add a health check")
        github_fake.label_issue_as("alice", REPO, issue.number, "aios")
        wait_for(
            lambda: client.hget(JOB_RETRIES_KEY, "run_triage|rescheduled:models-unavailable"),
            "the triage job to be rescheduled",
            timeout=60,
        )
        assert "Stopped" not in progress_body(github_fake, issue.number)
        # Every failure went to the breaker all workers share (per provider and model).
        for model in ("claude-opus-5-5", "claude-haiku-5-5"):
            assert client.hget(f"aios:llm:breaker:anthropic:{model}", "failures") == b"3"

        scripted_model.always_fail.clear()  # the storm is over
        scripted_model.script.append(finish('{"questions": ["Which endpoint?"]}'))
        wait_for(
            lambda: "clarifying" in progress_body(github_fake, issue.number),
            "the rescheduled triage to ask its question",
            timeout=90,
        )
    finally:
        client.close()


def test_a_spend_limit_pauses_the_item_alerts_and_is_not_retried(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    scripted_model.script.append(SPEND_LIMIT)
    serve = start_serve(workers=1)
    github_fake.webhook_url = f"{serve.url}/webhook"
    issue = github_fake.add_issue(REPO, "Add a health check")
    github_fake.label_issue_as("alice", REPO, issue.number, "aios")
    wait_for(
        lambda: "paused: provider spend limit" in progress_body(github_fake, issue.number),
        "the paused work item",
        timeout=60,
    )
    body = progress_body(github_fake, issue.number)
    assert "raise the spend limit or add credit" in body and "/aios retry" in body
    wait_for(
        lambda: sample(metrics_text(serve), "aios_job_outcomes_total", function="run_triage"),
        "the job's outcome in /metrics",
    )
    text = metrics_text(serve)
    stops = sample(text, "aios_llm_stops_total", provider="anthropic", reason="spend_limit")
    assert stops == 1
    outcome = sample(text, "aios_job_outcomes_total", function="run_triage", outcome="spend_limit")
    assert outcome == 1
    assert (
        sample(text, "aios_job_outcomes_total", outcome="succeeded", function="run_triage") is None
    )
    assert len(scripted_model.requests) == 1  # no retry asks the provider again
