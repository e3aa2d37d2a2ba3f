"""Prices, the Redis usage ledger and budgets (real redis-server), and their settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio

from bot.agents.budget import BudgetExceeded, Budgets, check_budgets
from bot.agents.config import AgentConfig
from bot.agents.ledger import MemoryLedger, RedisLedger, UsageScope, month_of
from bot.agents.llm.types import Usage
from bot.agents.pricing import UNKNOWN_MODEL_PRICE, Price, PriceTable
from bot.settings import SettingsError

SCOPE = UsageScope(
    job_id="job-1", work_item="acme/widgets#42", repo="acme/widgets", installation_id=7
)


@pytest.fixture
async def ledger(redis_url: str) -> AsyncIterator[RedisLedger]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield RedisLedger(client)
    await client.aclose()


def test_cost_uses_all_four_prices() -> None:
    table = PriceTable()
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=100_000,
        cache_write_tokens=200_000,
        cache_read_tokens=3_000_000,
    )
    # sonnet 5.5: $2 in, $10 out, $2.50 write, $0.20 read per million
    assert table.cost("anthropic:claude-sonnet-5-5", usage) == pytest.approx(2.0 + 1.0 + 0.5 + 0.6)


def test_dated_names_match_their_family_and_overrides_win() -> None:
    table = PriceTable({"claude-haiku-5-5": Price(1, 2, 3, 4), "llama3.1": Price(0, 0, 0, 0)})
    assert table.price("claude-opus-4-5-20251101") == table.price("claude-opus-4-5")
    assert table.price("claude-haiku-5-5") == Price(1, 2, 3, 4)
    assert table.cost("openai:llama3.1", Usage(10**6, 10**6)) == 0
    assert table.price("mystery-model") is UNKNOWN_MODEL_PRICE


async def test_ledger_adds_up_by_job_item_repo_installation_and_month(ledger: RedisLedger) -> None:
    at = datetime(2030, 5, 17, tzinfo=UTC)
    usage = Usage(100, 20, 30, 400)
    await ledger.record(SCOPE, "anthropic:claude-sonnet-5-5", usage, 0.25, at=at)
    await ledger.record(SCOPE, "anthropic:claude-haiku-5-5", usage, 0.125, at=at)
    other_job = UsageScope("job-2", SCOPE.work_item, SCOPE.repo, SCOPE.installation_id)
    await ledger.record(other_job, "anthropic:claude-sonnet-5-5", usage, 1.0, at=at)

    job = await ledger.job("job-1")
    assert job.cost_usd == pytest.approx(0.375) and job.calls == 2
    assert job.usage == Usage(200, 40, 60, 800)
    assert (await ledger.work_item("acme/widgets#42")).cost_usd == pytest.approx(1.375)
    assert (await ledger.repo_month("acme/widgets", "2030-05")).calls == 3
    assert (await ledger.installation_month(7, "2030-05")).cost_usd == pytest.approx(1.375)
    assert (await ledger.installation_month(7, "2030-06")).calls == 0
    assert await ledger.by_model("job:job-1") == {
        "anthropic:claude-sonnet-5-5": 0.25,
        "anthropic:claude-haiku-5-5": 0.125,
    }


async def test_ledger_keeps_a_capped_log_and_expires_its_hashes(
    ledger: RedisLedger, redis_url: str
) -> None:
    await ledger.record(SCOPE, "m", Usage(1, 1), 0.001)
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    (entry,) = await client.xrange("aios:usage:log")
    assert (
        entry[1]["job"] == "job-1" and entry[1]["model"] == "m" and entry[1]["cost_micro"] == "1000"
    )
    assert 0 < await client.ttl("aios:usage:job:job-1") <= 90 * 24 * 3600
    await client.aclose()


@pytest.mark.parametrize(
    ("budgets", "seed_scope", "spent", "expected"),
    [
        (
            Budgets(per_job_usd=1.0),
            SCOPE,
            1.25,
            "The per-job budget of $1.00 is used up: $1.25 spent ($0.25 over)",
        ),
        (
            Budgets(per_job_usd=None, per_work_item_usd=5.0),
            UsageScope("earlier-job", SCOPE.work_item),
            5.5,
            "The per-work-item budget of $5.00 is used up: $5.50 spent ($0.50 over)",
        ),
        (
            Budgets(per_job_usd=None, per_work_item_usd=None, per_installation_month_usd=200.0),
            UsageScope("other", "acme/other#1", installation_id=7),
            200.0,
            f"The monthly installation ({month_of()}) budget of $200.00 is used up: "
            "$200.00 spent ($0.00 over)",
        ),
    ],
)
async def test_each_budget_stops_with_its_name_and_overshoot(
    ledger: RedisLedger, budgets: Budgets, seed_scope: UsageScope, spent: float, expected: str
) -> None:
    await check_budgets(ledger, SCOPE, budgets)  # nothing spent yet
    await ledger.record(seed_scope, "m", Usage(1, 1), spent)
    with pytest.raises(BudgetExceeded) as caught:
        await check_budgets(ledger, SCOPE, budgets)
    assert str(caught.value).startswith(expected)
    assert "Raise AIOS_BUDGET_" in str(caught.value)


async def test_unlimited_budgets_and_memory_ledger() -> None:
    memory = MemoryLedger()
    await memory.record(SCOPE, "m", Usage(5, 5), 1000.0)
    await check_budgets(memory, SCOPE, Budgets(None, None, None, None))
    assert (await memory.installation_month(7)).cost_usd == 1000.0
    with pytest.raises(BudgetExceeded, match="per-job"):
        await check_budgets(memory, SCOPE, Budgets())


def test_config_reads_budgets_prices_and_reports_bad_values() -> None:
    config = AgentConfig.from_env(
        {
            "AIOS_BUDGET_JOB_USD": "0.5",
            "AIOS_BUDGET_INSTALLATION_MONTH_USD": "unlimited",
            "AIOS_MODEL_PRICES": '{"llama3.1": [0, 0, 0, 0], "x": {"input": 1, "output": 2}}',
            "ANTHROPIC_API_KEY": "sk-ant-xyz",
        }
    )
    # Unset ceilings keep their defaults (a repository's own budgets start lower).
    assert config.budgets == Budgets(
        per_job_usd=0.5, per_work_item_usd=25.0, per_installation_month_usd=None
    )
    assert config.prices["x"] == Price(1, 2, 1, 1)
    assert config.missing_key() is None and config.secrets() == ["sk-ant-xyz"]
    assert AgentConfig.from_env({"AIOS_LLM_PROVIDER": "openai"}).missing_key() == "OPENAI_API_KEY"
    for env, variable in [
        ({"AIOS_BUDGET_JOB_USD": "lots"}, "AIOS_BUDGET_JOB_USD"),
        ({"AIOS_MODEL_PRICES": '{"m": [1]}'}, "AIOS_MODEL_PRICES"),
        ({"AIOS_MODELS": "[1]"}, "AIOS_MODELS"),
        ({"AIOS_LLM_PROVIDER": "palm"}, "AIOS_LLM_PROVIDER"),
        ({"AIOS_ALLOW_WORKFLOW_EDITS": "maybe"}, "AIOS_ALLOW_WORKFLOW_EDITS"),
    ]:
        with pytest.raises(SettingsError) as caught:
            AgentConfig.from_env(env)
        assert caught.value.variable == variable
