"""The agent loop on real git repositories, a real Redis ledger and the scripted model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from bot.agents.budget import Budgets
from bot.agents.config import AgentConfig
from bot.agents.ledger import RedisLedger, UsageScope
from bot.agents.llm.types import Usage
from bot.agents.loop import Step, StopReason, run_agent
from bot.agents.routing import ModelRef, RetryPolicy, RoutingConfig
from bot.agents.runtime import AgentRuntime
from bot.github.push_guard import PushPolicy
from bot.github.workspace import Workspace
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import SPEND_LIMIT, Turn, call, finish
from tests.test_workspace import git, seed_remote

API_KEY = "sk-ant-looptest-0123456789abcdef"
SCOPE = UsageScope("job-loop", "acme/calc#7", "acme/calc", 99)
FILES = {
    "calc.py": "def add(a, b):\n    return a - b\n",
    "AGENTS.md": "Run the checks with python3.\n",
}
UNLIMITED = Budgets(None, None, None, None)


async def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
async def ledger(redis_url: str) -> AsyncIterator[RedisLedger]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield RedisLedger(client)
    await client.aclose()


@pytest.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    remote = seed_remote(tmp_path / "remotes", "acme/calc", FILES)
    ws = await Workspace.clone("acme/calc", git_base_url=remote)
    await ws.start_branch(7, "Fix add")
    yield ws
    ws.cleanup()


def make_runtime(
    model: ScriptedModel,
    ledger: Any,
    data_dir: Path,
    *,
    budgets: Budgets = UNLIMITED,
    **config: Any,
) -> AgentRuntime:
    settings = AgentConfig(
        anthropic_api_key=API_KEY,
        anthropic_base_url="http://llm.test",
        data_dir=data_dir,
        budgets=budgets,
        retry=RetryPolicy(max_retries=1),
        **config,
    )
    return AgentRuntime.from_config(
        settings, ledger=ledger, http_client=model.client(), sleep=no_sleep
    )


def last_message(model: ScriptedModel, index: int) -> dict[str, Any]:
    return model.requests[index].body["messages"][-1]


async def test_a_multi_step_run_reads_edits_runs_and_ends_in_a_commit(
    workspace: Workspace, ledger: RedisLedger, data_dir: Path, tmp_path: Path
) -> None:
    check = "python3 -c 'import calc; assert calc.add(2, 3) == 5; print(\"sum ok\")'"
    model = ScriptedModel(
        [
            Turn("Let me look around.", [call("list_files")]),
            Turn("Reading the adder.", [call("read_file", path="calc.py")]),
            Turn(
                "It subtracts; fixing.",
                [call("edit_file", path="calc.py", old="return a - b", new="return a + b")],
            ),
            Turn("Checking it.", [call("run", command=check)]),
            finish("Fixed add(): it subtracted. Checked 2 + 3 == 5."),
        ]
    )
    runtime = make_runtime(model, ledger, data_dir)
    steps: list[Step] = []
    result = await run_agent(
        "backend", "Fix add()", workspace.path, runtime=runtime, scope=SCOPE, on_step=steps.append
    )

    assert result.status is StopReason.FINISHED, result.summary
    assert result.summary == "Fixed add(): it subtracted. Checked 2 + 3 == 5."
    assert result.steps == 5 and result.files_changed == ("calc.py",)
    assert "calc.py" in last_message(model, 1)["content"][0]["content"]
    assert "return a - b" in last_message(model, 2)["content"][0]["content"]
    ran = last_message(model, 4)["content"][0]["content"]
    assert "exit code 0" in ran and "sum ok" in ran
    assert [(s.kind, s.tool) for s in steps][:4] == [
        ("model", None),
        ("tool", "list_files"),
        ("model", None),
        ("tool", "read_file"),
    ]
    assert steps[0].text == "Let me look around." and steps[0].role.name == "Bea"
    system = model.requests[0].body["system"]
    assert (
        "You are Bea" in system[0]["text"] and "Run the checks with python3." in system[1]["text"]
    )

    sha = await workspace.commit(result.summary, agent=runtime.roster.get("backend").persona)
    await workspace.push(policy=PushPolicy())
    bare = tmp_path / "remotes" / "acme" / "calc.git"
    assert git("show", f"{sha}:calc.py", cwd=bare) == "def add(a, b):\n    return a + b\n"
    assert "AIOS-Agent: 🛠️ Bea (Backend)" in git(
        "log", "-1", "--format=%B", "aios/7-fix-add", cwd=bare
    )

    job = await ledger.job("job-loop")
    assert (
        job.calls == 5
        and job.cost_usd == pytest.approx(result.cost_usd, abs=1e-6)
        and job.cost_usd > 0
    )
    assert result.models == ("anthropic:claude-sonnet-5-5",)
    assert result.usage.cache_read_tokens > 0
    await runtime.aclose()


async def test_tool_errors_go_back_to_the_model_and_the_run_goes_on(
    workspace: Workspace, ledger: RedisLedger, data_dir: Path
) -> None:
    model = ScriptedModel(
        [
            Turn(calls=[call("edit_file", path="calc.py", old="return a * b", new="x")]),
            Turn(calls=[call("read_file", path="../../etc/passwd"), call("deploy", target="prod")]),
            finish("Could not find the snippet."),
        ]
    )
    runtime = make_runtime(model, ledger, data_dir)
    result = await run_agent("backend", "Fix add()", workspace.path, runtime=runtime, scope=SCOPE)
    assert result.ok and result.steps == 3
    (missing,) = last_message(model, 1)["content"]
    assert missing["is_error"] is True and "was not found in calc.py" in missing["content"]
    outside, unknown = last_message(model, 2)["content"]
    assert outside["is_error"] and "outside the repository" in outside["content"]
    assert unknown["is_error"] and "unknown tool 'deploy'" in unknown["content"]
    assert (workspace.path / "calc.py").read_text() == FILES["calc.py"]


async def test_the_step_limit_stops_the_run(
    workspace: Workspace, ledger: RedisLedger, data_dir: Path
) -> None:
    model = ScriptedModel([Turn(calls=[call("list_files")]) for _ in range(5)])
    runtime = make_runtime(model, ledger, data_dir)
    result = await run_agent(
        "qa", "Review", workspace.path, runtime=runtime, scope=SCOPE, max_steps=3
    )
    assert result.status is StopReason.STEP_LIMIT and result.steps == 3
    assert result.summary.startswith("Stopped: reached the step limit of 3 model calls")
    assert len(model.requests) == 3


async def test_the_job_budget_stops_between_steps_never_inside_a_write(
    workspace: Workspace, ledger: RedisLedger, data_dir: Path
) -> None:
    content = "".join(f"line {i}\n" for i in range(2000))
    model = ScriptedModel(
        [
            Turn(calls=[call("write_file", path="big.txt", content=content)], output_tokens=20_000),
            finish("x"),
        ]
    )
    runtime = make_runtime(model, ledger, data_dir, budgets=Budgets(per_job_usd=0.1))
    result = await run_agent("backend", "Write", workspace.path, runtime=runtime, scope=SCOPE)
    assert result.status is StopReason.BUDGET and result.steps == 1 and len(model.requests) == 1
    assert result.summary.startswith("Stopped: The per-job budget of $0.10 is used up: $0.")
    assert (workspace.path / "big.txt").read_text() == content


@pytest.mark.parametrize(
    ("budgets", "seed", "name"),
    [
        (
            Budgets(None, 5.0, None),
            UsageScope("earlier", SCOPE.work_item),
            "per-work-item budget of $5.00",
        ),
        (
            Budgets(None, None, 50.0),
            UsageScope("other", "acme/x#1", installation_id=99),
            "budget of $50.00",
        ),
    ],
)
async def test_item_and_installation_budgets_stop_before_any_call(
    workspace: Workspace,
    ledger: RedisLedger,
    data_dir: Path,
    budgets: Budgets,
    seed: UsageScope,
    name: str,
) -> None:
    await ledger.record(seed, "anthropic:claude-sonnet-5-5", Usage(1, 1), 60.0)
    model = ScriptedModel([finish("never")])
    runtime = make_runtime(model, ledger, data_dir, budgets=budgets)
    result = await run_agent("backend", "Anything", workspace.path, runtime=runtime, scope=SCOPE)
    assert result.status is StopReason.BUDGET and model.requests == []
    assert name in result.summary and "$60.00 spent" in result.summary


async def test_a_spend_limit_ends_the_run_with_the_provider_message(
    workspace: Workspace, ledger: RedisLedger, data_dir: Path
) -> None:
    model = ScriptedModel([SPEND_LIMIT, finish("never")])
    runtime = make_runtime(model, ledger, data_dir)
    result = await run_agent("backend", "Anything", workspace.path, runtime=runtime, scope=SCOPE)
    assert result.status is StopReason.SPEND_LIMIT and len(model.requests) == 1
    assert "spend limit" in result.summary
    assert result.error is not None and result.error.provider == "anthropic"


async def test_transcript_is_json_lines_with_secrets_redacted_and_hooks_may_fail(
    workspace: Workspace, ledger: RedisLedger, data_dir: Path
) -> None:
    token = "ghs_TranscriptLeak0123456789abcdefghijkl"
    model = ScriptedModel(
        [Turn(f"I see {API_KEY}", [call("read_file", path="calc.py")]), Turn("Plain end.")]
    )
    runtime = make_runtime(model, ledger, data_dir)

    async def broken_hook(step: Step) -> None:
        raise RuntimeError("narration down")

    result = await run_agent(
        "backend",
        f"use token {token}",
        workspace.path,
        runtime=runtime,
        scope=SCOPE,
        on_step=broken_hook,
    )
    assert result.ok and result.summary == "Plain end."  # no tool call: the text is the summary
    assert result.transcript == data_dir / "transcripts" / "job-loop.jsonl"
    text = result.transcript.read_text()
    events = [json.loads(line)["event"] for line in text.splitlines()]
    assert events == ["start", "model", "tool", "model", "stop"]
    assert API_KEY not in text and token not in text and "[REDACTED]" in text
    assert oct(result.transcript.stat().st_mode & 0o777) == "0o600"


async def test_an_openai_compatible_endpoint_runs_the_same_loop(
    workspace: Workspace, ledger: RedisLedger, data_dir: Path
) -> None:
    model = ScriptedModel([Turn(calls=[call("read_file", path="calc.py")]), finish("Read it.")])
    runtime = make_runtime(
        model,
        ledger,
        data_dir,
        provider="openai",
        openai_api_key="sk-local",
        openai_base_url="http://vllm.test/v1",
        routing=RoutingConfig(default=(ModelRef("openai", "qwen2.5-coder"),)),
    )
    result = await run_agent("cto", "Look at calc", workspace.path, runtime=runtime, scope=SCOPE)
    assert result.ok and result.models == ("openai:qwen2.5-coder",)
    assert [r.api for r in model.requests] == ["openai", "openai"]
    tools = [t["function"]["name"] for t in model.requests[0].body["tools"]]
    assert tools == ["list_files", "read_file", "search", "finish"]  # the CTO does not edit or run
