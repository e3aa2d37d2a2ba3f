"""Providers against the scripted model: wire shapes, cache-friendly prefixes, typed errors."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from bot.agents import errors
from bot.agents.llm.anthropic import AnthropicProvider, build_payload
from bot.agents.llm.openai import OpenAIProvider
from bot.agents.llm.types import Message, Request, Text, ToolCall, ToolResult, ToolSpec
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import OPENAI_QUOTA, OVERLOADED, RATE_LIMITED, SPEND_LIMIT, Fail, Turn, call

TOOLS = (
    ToolSpec(
        "read_file", "Read a file.", {"type": "object", "properties": {"path": {"type": "string"}}}
    ),
    ToolSpec(
        "finish", "Finish.", {"type": "object", "properties": {"summary": {"type": "string"}}}
    ),
)
SYSTEM = "You are Bea. " + "Follow the rules. " * 300
CONTEXT = "Repository: acme/widgets\n" + "AGENTS.md says: run pytest. " * 200


def anthropic(model: ScriptedModel) -> AnthropicProvider:
    return AnthropicProvider(
        api_key="sk-ant-test", base_url="http://llm.test", http_client=model.client()
    )


def openai(model: ScriptedModel, base_url: str = "http://llm.test/v1") -> OpenAIProvider:
    return OpenAIProvider(api_key="sk-test", base_url=base_url, http_client=model.client())


def conversation(turns: int) -> tuple[Message, ...]:
    messages = [Message("user", (Text("<task>add pagination</task>"),))]
    for i in range(turns):
        messages.append(
            Message(
                "assistant",
                (Text(f"Reading {i}"), ToolCall(f"t{i}", "read_file", {"path": f"f{i}.py"})),
            )
        )
        messages.append(Message("user", (ToolResult(f"t{i}", f"contents of f{i}.py\n" * 40),)))
    return tuple(messages)


def strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [strip_cache_control(v) for v in value]
    return value


def test_payload_prefix_is_byte_identical_from_turn_to_turn() -> None:
    earlier = build_payload(Request(SYSTEM, conversation(2), TOOLS, CONTEXT), "claude-sonnet-5-5")
    later = build_payload(Request(SYSTEM, conversation(3), TOOLS, CONTEXT), "claude-sonnet-5-5")
    for key in ("tools", "system"):
        assert json.dumps(earlier[key]) == json.dumps(later[key])
    assert earlier["system"][-1]["cache_control"] == {"type": "ephemeral"}
    old = [json.dumps(m) for m in strip_cache_control(earlier["messages"])]
    new = [json.dumps(m) for m in strip_cache_control(later["messages"])]
    assert new[: len(old)] == old
    marked = [i for i, m in enumerate(later["messages"]) if "cache_control" in m["content"][-1]]
    assert marked == [len(later["messages"]) - 3, len(later["messages"]) - 1]


async def test_a_turn_of_many_tool_results_still_reads_the_conversation_from_the_cache() -> None:
    """The breakpoint on the previous user message is what reaches back: the newest one alone
    sits more than the API's lookback (20 blocks) after everything the last request cached."""
    calls = [call("read_file", path=f"f{i}.py") for i in range(25)]
    model = ScriptedModel([Turn("Reading all of them.", calls), Turn("Done.")])
    provider = anthropic(model)
    task = (Message("user", (Text("<task>add pagination</task>" + " context" * 2000),)),)
    first = await provider.complete(Request(SYSTEM, task, TOOLS, CONTEXT), model="m")
    results = tuple(
        ToolResult(c.id, f"contents of {c.arguments['path']}") for c in first.message.tool_calls
    )
    history = (*task, first.message, Message("user", results))
    second = await provider.complete(Request(SYSTEM, history, TOOLS, CONTEXT), model="m")
    # Everything the first request sent comes back from the cache.
    assert second.usage.cache_read_tokens == first.usage.prompt_tokens
    sent = model.requests[-1].body
    marked = [i for i, m in enumerate(sent["messages"]) if "cache_control" in m["content"][-1]]
    assert marked == [0, 2] and len(sent["messages"][2]["content"]) == 25
    await provider.aclose()


async def test_anthropic_round_trip_maps_tool_calls_and_cache_usage() -> None:
    model = ScriptedModel(
        [Turn("Looking around.", [call("read_file", path="app.py")]), Turn("Done.")],
        api_key="sk-ant-test",
    )
    provider = anthropic(model)
    first = await provider.complete(
        Request(SYSTEM, conversation(0), TOOLS, CONTEXT), model="claude-sonnet-5-5"
    )
    assert first.message.text == "Looking around."
    (tool_call,) = first.message.tool_calls
    assert (tool_call.name, tool_call.arguments) == ("read_file", {"path": "app.py"})
    assert first.stop_reason == "tool_use"
    assert first.usage.cache_read_tokens == 0 and first.usage.cache_write_tokens > 1000
    history = (
        *conversation(0),
        first.message,
        Message("user", (ToolResult(tool_call.id, "print('hi')\n"),)),
    )
    second = await provider.complete(
        Request(SYSTEM, history, TOOLS, CONTEXT), model="claude-sonnet-5-5"
    )
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    assert second.usage.cache_read_tokens / second.usage.prompt_tokens > 0.9
    sent = model.requests[-1].body
    assert sent["messages"][-1]["content"][0]["tool_use_id"] == tool_call.id
    await provider.aclose()


async def test_changing_the_prefix_loses_the_cache() -> None:
    model = ScriptedModel([Turn("a"), Turn("b")])
    provider = anthropic(model)
    await provider.complete(Request(SYSTEM, conversation(0), TOOLS, CONTEXT), model="m")
    changed = await provider.complete(
        Request(SYSTEM + " now", conversation(0), TOOLS, CONTEXT), model="m"
    )
    assert changed.usage.cache_read_tokens == 0


async def test_fake_rejects_a_tool_use_without_its_result() -> None:
    model = ScriptedModel([Turn("never")])
    broken = (
        *conversation(0),
        Message("assistant", (ToolCall("x1", "read_file", {"path": "a"}),)),
        Message("user", (Text("no result"),)),
    )
    with pytest.raises(errors.BadRequestError, match="tool_result"):
        await anthropic(model).complete(Request(SYSTEM, broken, TOOLS), model="m")


async def test_openai_round_trip_maps_tool_calls_and_cached_tokens() -> None:
    model = ScriptedModel([Turn("", [call("read_file", path="a.py")]), Turn("All done.")])
    provider = openai(model)
    first = await provider.complete(
        Request(SYSTEM, conversation(0), TOOLS, CONTEXT), model="gpt-4.1"
    )
    (tool_call,) = first.message.tool_calls
    assert tool_call.arguments == {"path": "a.py"}
    history = (
        *conversation(0),
        first.message,
        Message("user", (ToolResult(tool_call.id, "x = 1"),)),
    )
    second = await provider.complete(Request(SYSTEM, history, TOOLS, CONTEXT), model="gpt-4.1")
    assert second.message.text == "All done."
    assert second.usage.cache_read_tokens > 0
    assert (
        second.usage.input_tokens + second.usage.cache_read_tokens
        == model.requests[-1].usage["prompt_tokens"]
    )
    body = model.requests[-1].body
    assert body["messages"][0]["role"] == "system" and body["messages"][-1]["role"] == "tool"
    assert body["tools"][0]["function"]["name"] == "read_file"
    await provider.aclose()


async def test_openai_azure_host_gets_an_api_key_header() -> None:
    seen: list[httpx2.Headers] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers)
        return httpx2.Response(
            401, json={"error": {"message": "bad key", "type": "invalid_request_error"}}
        )

    provider = OpenAIProvider(
        api_key="azkey123",
        base_url="https://me.openai.azure.com/openai/v1",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )
    with pytest.raises(errors.AuthError, match="bad key"):
        await provider.complete(Request("s", conversation(0)), model="gpt-4.1")
    assert seen[0]["api-key"] == "azkey123" and "authorization" not in seen[0]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OVERLOADED, errors.OverloadedError),
        (RATE_LIMITED, errors.RateLimitedError),
        (SPEND_LIMIT, errors.SpendLimitError),
        (Fail(401, "authentication_error", "invalid x-api-key"), errors.AuthError),
        (Fail(400, "invalid_request_error", "prompt is too long"), errors.BadRequestError),
        (
            Fail(400, "invalid_request_error", "Your credit balance is too low"),
            errors.SpendLimitError,
        ),
        (Fail(500, "api_error", "Internal server error"), errors.OverloadedError),
    ],
)
async def test_anthropic_errors_are_typed_and_keep_the_provider_message(
    failure: Fail, expected: type[errors.LLMError]
) -> None:
    provider = anthropic(ScriptedModel([failure]))
    with pytest.raises(expected) as caught:
        await provider.complete(Request("s", conversation(0)), model="claude-haiku-5-5")
    assert caught.value.message == failure.message
    assert caught.value.status == failure.status
    assert caught.value.model == "claude-haiku-5-5"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OPENAI_QUOTA, errors.SpendLimitError),
        (
            Fail(429, "requests", "Rate limit reached", code="rate_limit_exceeded"),
            errors.RateLimitedError,
        ),
        (Fail(503, "server_error", "The engine is currently overloaded"), errors.OverloadedError),
    ],
)
async def test_openai_errors_are_typed(failure: Fail, expected: type[errors.LLMError]) -> None:
    with pytest.raises(expected, match=failure.message[:20]):
        await openai(ScriptedModel([failure])).complete(
            Request("s", conversation(0)), model="gpt-4.1"
        )


async def test_rate_limit_error_carries_retry_after() -> None:
    failure = Fail(429, "rate_limit_error", "slow down", headers={"retry-after": "7"})
    with pytest.raises(errors.RateLimitedError) as caught:
        await anthropic(ScriptedModel([failure])).complete(Request("s", conversation(0)), model="m")
    assert caught.value.retry_after == 7.0


async def test_unreachable_provider_is_overloaded_not_a_crash() -> None:
    provider = OpenAIProvider(api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(errors.OverloadedError, match="cannot reach"):
        await provider.complete(Request("s", conversation(0)), model="gpt-4.1")
    await provider.aclose()
