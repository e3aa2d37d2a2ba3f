"""The monitoring kit: `/metrics` serves model spend and tokens by model and role, work items
by state, agent outcomes and loops, and each installation's month against its budget; it
wants a bearer token when one is set; the Grafana dashboard queries only what it serves."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import redis.asyncio
import yaml
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from bot.agents.budget import Budgets
from bot.agents.ledger import RedisLedger, UsageScope
from bot.agents.llm.types import Usage
from bot.app.metrics_work import DEFAULT_INSTALLATION_BUDGET_USD, installation_budget
from bot.settings import Settings
from bot.testbed import webhooks
from bot.testbed.turns import Turn, call, finish, qa_pass
from bot.workitem import store
from bot.workitem.item import WorkItem
from bot.workitem.states import State
from tests.agent_harness import Team
from tests.metrics_scrape import (
    WEBHOOK_SECRET,
    check_names_served,
    fetch_metrics,
    key,
    live_samples,
    make_app,
    parse,
)
from tests.serve_harness import REPO

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "aios.json"
SONNET = "anthropic:claude-sonnet-4-5"
GPT = "openai:gpt-5"


def item(number: int, state: State, installation_id: int = 7) -> WorkItem:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    new = WorkItem.new("octo/hello", number, installation_id, title="t", created_by="a", at=at)
    return replace(new, state=state)


def series(text: str, prefix: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {k: v for k, v in parse(text).items() if k[0].startswith(prefix)}


async def test_metrics_serve_spend_tokens_calls_items_and_the_month_budget(
    redis_url: str, aredis: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOS_BUDGET_INSTALLATION_MONTH_USD", "40")
    ledger = RedisLedger(aredis)
    backend = UsageScope("job-1", "octo/hello#1", "octo/hello", 7, role="backend")
    await ledger.record(backend, SONNET, Usage(1000, 200, 50, 300), 0.012345)
    await ledger.record(backend, SONNET, Usage(10, 20, 0, 5), 0.000655)
    qa = UsageScope("job-2", "octo/hello#1", "octo/hello", 7, role="qa")
    await ledger.record(qa, GPT, Usage(7, 3, 0, 0), 0.5)
    await ledger.record(UsageScope("job-3", installation_id=8), GPT, Usage(1, 1, 0, 0), 2.0)
    # Last month's spend is not this month's: the budget gauge starts again at zero.
    await ledger.record(
        backend, SONNET, Usage(1, 1, 0, 0), 9.0, at=datetime(2000, 1, 1, tzinfo=UTC)
    )
    for number, state in [(1, State.QUEUED), (2, State.IMPLEMENTING), (3, State.MERGED)]:
        await store.save_item(aredis, item(number, state))
    await store.save_item(aredis, item(4, State.IMPLEMENTING, installation_id=8))

    text = await fetch_metrics(make_app(redis_url))

    assert series(text, "aios_model_") == {
        key("aios_model_cost_usd_total", model=SONNET, role="backend"): 9.013,
        key("aios_model_cost_usd_total", model=GPT, role="qa"): 0.5,
        key("aios_model_cost_usd_total", model=GPT, role="none"): 2.0,
        key("aios_model_calls_total", model=SONNET, role="backend"): 3,
        key("aios_model_calls_total", model=GPT, role="qa"): 1,
        key("aios_model_calls_total", model=GPT, role="none"): 1,
        key("aios_model_tokens_total", model=SONNET, role="backend", kind="input"): 1011,
        key("aios_model_tokens_total", model=SONNET, role="backend", kind="output"): 221,
        key("aios_model_tokens_total", model=SONNET, role="backend", kind="cache_write"): 50,
        key("aios_model_tokens_total", model=SONNET, role="backend", kind="cache_read"): 305,
        key("aios_model_tokens_total", model=GPT, role="qa", kind="input"): 7,
        key("aios_model_tokens_total", model=GPT, role="qa", kind="output"): 3,
        key("aios_model_tokens_total", model=GPT, role="qa", kind="cache_write"): 0,
        key("aios_model_tokens_total", model=GPT, role="qa", kind="cache_read"): 0,
        key("aios_model_tokens_total", model=GPT, role="none", kind="input"): 1,
        key("aios_model_tokens_total", model=GPT, role="none", kind="output"): 1,
        key("aios_model_tokens_total", model=GPT, role="none", kind="cache_write"): 0,
        key("aios_model_tokens_total", model=GPT, role="none", kind="cache_read"): 0,
    }
    assert series(text, "aios_installation_month_") == {
        key("aios_installation_month_spend_usd", installation="7"): 0.513,
        key("aios_installation_month_spend_usd", installation="8"): 2.0,
        key("aios_installation_month_budget_usd", installation="7"): 40.0,
        key("aios_installation_month_budget_usd", installation="8"): 40.0,
    }
    by_state = {s.value: 0.0 for s in State} | {"queued": 1, "implementing": 2, "merged": 1}
    assert series(text, "aios_work_items") == {
        key("aios_work_items", state=state): count for state, count in by_state.items()
    }


def test_the_web_reads_the_installation_budget_as_the_workers_do() -> None:
    assert DEFAULT_INSTALLATION_BUDGET_USD == Budgets().per_installation_month_usd
    assert installation_budget({}) == DEFAULT_INSTALLATION_BUDGET_USD
    assert installation_budget({"AIOS_BUDGET_INSTALLATION_MONTH_USD": " 12.5 "}) == 12.5
    assert installation_budget({"AIOS_BUDGET_INSTALLATION_MONTH_USD": "unlimited"}) is None


async def test_metrics_show_disk_use_by_part_the_budget_floor_and_free_space(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOS_DISK_BUDGET", "3G")
    monkeypatch.setenv("AIOS_DISK_FLOOR", "512M")
    data = tmp_path / "data"
    for part, size in (("workspaces/aios-job-1/repo", 300_000), (f"env-cache/{'c' * 64}", 90_000)):
        (data / part).mkdir(parents=True)
        (data / part / "blob").write_bytes(os.urandom(size))

    samples = parse(await fetch_metrics(make_app(redis_url, data_dir=data)))

    def du(path: Path) -> float:
        done = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True)
        return float(done.stdout.split()[0])

    assert {k: v for k, v in samples.items() if k[0] == "aios_disk_used_bytes"} == {
        key("aios_disk_used_bytes", part="workspaces"): du(data / "workspaces"),
        key("aios_disk_used_bytes", part="caches"): du(data / "env-cache"),
    }
    assert samples[key("aios_disk_budget_bytes")] == 3 << 30
    assert samples[key("aios_disk_floor_bytes")] == 512 << 20
    assert 0 < samples[key("aios_disk_free_bytes")] <= shutil.disk_usage(data).total


async def test_a_malformed_disk_budget_still_shows_the_disk_use(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOS_DISK_BUDGET", "plenty")
    with capture_logs() as logs:
        samples = parse(await fetch_metrics(make_app(redis_url, data_dir=tmp_path)))
    assert samples[key("aios_disk_used_bytes", part="caches")] == 0
    assert samples[key("aios_disk_free_bytes")] > 0
    assert key("aios_disk_budget_bytes") not in samples
    assert any("AIOS_DISK_BUDGET" in e.get("problem", "") for e in logs)


def coder(summary: str, path: str) -> list[Turn]:
    return [
        Turn("On it.", [call("write_file", path=path, content=f"# {summary}\n")]),
        finish(summary),
    ]


def test_an_item_driven_through_the_team_shows_its_spend_outcome_and_loops(team: Team) -> None:
    team.model.script += [*coder("Done.", "app.py"), qa_pass()]
    issue = team.fake.add_issue(REPO, "Metered", "Please.")
    team.fake.label_issue_as("alice", REPO, issue.number, "aios:backend")
    team.drain()
    first_head = team.item(issue.number).pr.head_sha or ""
    team.model.script += [*coder("Fixed the test.", "test_app.py"), qa_pass()]
    team.fake.ci_result(REPO, first_head, conclusion="failure", summary="1 failed: test_one")
    team.drain()
    team.fake.comment_as("alice", REPO, issue.number, "/aios cancel")
    team.drain()
    assert team.item(issue.number).state is State.CANCELLED
    # Two coder runs of two calls, each head reviewed by QA in one: the script's order.
    roles = ["backend", "backend", "qa", "backend", "backend", "qa"]
    tokens: dict[tuple[str, str, str], int] = {}
    for role, request in zip(roles, team.model.requests, strict=True):
        usage = request.usage
        for kind, field in [
            ("input", "input_tokens"),
            ("output", "output_tokens"),
            ("cache_write", "cache_creation_input_tokens"),
            ("cache_read", "cache_read_input_tokens"),
        ]:
            label = (f"anthropic:{request.model}", role, kind)
            tokens[label] = tokens.get(label, 0) + usage.get(field, 0)

    origin = (team.fake.webhook_url or "").removesuffix("/webhook")
    text = asyncio.run(_get(f"{origin}/metrics"))

    scraped = parse(text)
    assert series(text, "aios_model_tokens_total") == {
        key("aios_model_tokens_total", model=m, role=r, kind=k): n
        for (m, r, k), n in tokens.items()
    }
    calls = series(text, "aios_model_calls_total")
    assert {labels: n for (_, labels), n in calls.items()} == {
        (("model", f"anthropic:{team.model.requests[0].model}"), ("role", "backend")): 4,
        (("model", f"anthropic:{team.model.requests[2].model}"), ("role", "qa")): 2,
    }
    spent = team.connection.hget(f"aios:usage:item:{REPO}#{issue.number}", "cost_micro")
    cost = series(text, "aios_model_cost_usd_total")
    assert sum(cost.values()) == pytest.approx(int(spent or 0) / 1_000_000, abs=1e-9)
    assert all(value > 0 for value in cost.values())
    assert series(text, "aios_agent_outcomes_total") == {
        key("aios_agent_outcomes_total", outcome="cancelled"): 1
    }
    assert series(text, "aios_agent_loops_total") == {
        key("aios_agent_loops_total", loop="ci_fix_attempts"): 1
    }
    assert scraped[key("aios_work_items", state="cancelled")] == 1


async def _get(url: str) -> str:
    import aiohttp  # here: only this test talks to a server it did not build

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.text()


# --- the token -------------------------------------------------------------------------------


async def test_a_metrics_token_wants_the_bearer_header(redis_url: str) -> None:
    app = make_app(redis_url, metrics_token="s3cret-token")
    async with TestClient(TestServer(app)) as client:
        for headers in [
            {},
            {"Authorization": "Bearer s3cret-tokeN"},
            {"Authorization": "s3cret-token"},
        ]:
            refused = await client.get("/metrics", headers=headers)
            assert refused.status == 401
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert "aios_" not in await refused.text()
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert allowed.status == 200
        assert "aios_work_items" in await allowed.text()


async def test_without_a_token_metrics_are_open_and_the_server_says_so_once(
    redis_url: str,
) -> None:
    with capture_logs() as logs:
        app = make_app(redis_url)
        text = await fetch_metrics(app)
        make_app(redis_url, metrics_token="t")  # a server with a token says nothing
    assert "aios_work_items" in text
    public = [e for e in logs if "/metrics is public" in e["event"]]
    assert len(public) == 1 and public[0]["log_level"] == "warning"
    assert "AIOS_METRICS_TOKEN" in public[0]["event"]


def test_the_metrics_token_is_a_secret_setting() -> None:
    settings = Settings.from_env({"AIOS_METRICS_TOKEN": " tok-123 "}, dotenv_path=None)
    assert settings.metrics_token == "tok-123"
    assert "tok-123" not in repr(settings) and "tok-123" in settings.secrets()
    assert Settings.from_env({}, dotenv_path=None).metrics_token is None


# --- webhook 5xx -----------------------------------------------------------------------------


async def test_a_delivery_redis_refuses_to_store_counts_as_a_5xx(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Redis out of memory (noeviction) refuses the write but still answers the scrape."""
    body = webhooks.encode({"action": "labeled", "installation": {"id": 7}})
    headers = webhooks.delivery_headers("issues", body, WEBHOOK_SECRET)
    async with TestClient(TestServer(make_app(redis_url))) as client:
        redis_client.config_set("maxmemory", "1")
        try:
            answer = await client.post("/webhook", data=body, headers=headers)
        finally:
            redis_client.config_set("maxmemory", "0")
        assert answer.status == 503
        text = await (await client.get("/metrics")).text()
    assert series(text, "aios_webhook_responses_total") == {
        key("aios_webhook_responses_total", code="503"): 1
    }


# --- the dashboard ---------------------------------------------------------------------------


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_the_dashboard_has_grafanas_shape_and_a_datasource_variable() -> None:
    board = dashboard()
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] and board["title"] == "AIOS"
    [variable] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert (variable["name"], variable["query"]) == ("datasource", "prometheus")
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["title"] and panel["targets"], panel
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for grid in ("h", "w", "x", "y"):
            assert isinstance(panel["gridPos"][grid], int)
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs) and all(t["expr"] for t in panel["targets"])
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("webhook", "5xx", "backlog", "failures", "spend", "tokens", "state", "outcomes"):
        assert topic in titles, f"no panel about {topic}"


def test_every_metric_the_dashboard_queries_is_served(redis_url: str) -> None:
    samples = live_samples(redis_url)
    exprs = [
        (f"{panel['title']}/{target['refId']}", target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]
    for where, expr in exprs:
        check_names_served(where, expr, samples)


def test_the_dashboards_queries_are_valid_promql_when_promtool_is_here(tmp_path: Path) -> None:
    """CI installs promtool (.ci/run); its rule checker parses each query as Prometheus would."""
    rules = [
        {"record": f"aios:dashboard_query_{i}", "expr": t["expr"].replace("$__range", "1h")}
        for i, t in enumerate(t for p in dashboard()["panels"] for t in p.get("targets", []))
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    promtool = shutil.which("promtool")
    if promtool is not None:
        done = subprocess.run(
            [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
    for rule in rules:  # without promtool, at least the brackets of each query pair up
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
