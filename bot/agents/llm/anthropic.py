"""Anthropic Messages API provider (official SDK), with cache breakpoints on the stable prefix."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2

from bot.agents.errors import AuthError, LLMError, OverloadedError
from bot.agents.llm.classify import classify
from bot.agents.llm.types import Message, Request, Response, Text, ToolCall, ToolResult, Usage

CACHE = {"type": "ephemeral"}
MESSAGE_BREAKPOINTS = 2
"""Breakpoints on the last user messages: the newest writes the cache, the one before reads it.

With the one after the system prompt that is 3 of the API's 4 allowed breakpoints.
"""


def build_payload(request: Request, model: str) -> dict[str, Any]:
    """The Messages API body. Tools, system and context come first and never change within a run,
    so each request's prefix is byte-identical to the previous one up to the new turns."""
    system: list[dict[str, Any]] = [{"type": "text", "text": request.system}]
    if request.context:
        system.append({"type": "text", "text": request.context})
    system[-1]["cache_control"] = CACHE
    messages = [_message(m) for m in request.messages]
    user_indexes = [i for i, m in enumerate(messages) if m["role"] == "user"]
    for i in user_indexes[-MESSAGE_BREAKPOINTS:]:
        messages[i]["content"][-1]["cache_control"] = CACHE
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "system": system,
        "messages": messages,
    }
    if request.tools:
        payload["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in request.tools
        ]
    return payload


def _message(message: Message) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, Text):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolCall):
            blocks.append(
                {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
            )
        elif isinstance(part, ToolResult):
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": part.call_id,
                "content": part.content or "(no output)",
            }
            if part.is_error:
                block["is_error"] = True
            blocks.append(block)
    if not blocks:
        blocks.append({"type": "text", "text": "(empty)"})
    return {"role": message.role, "content": blocks}


def parse_response(data: Any, model: str) -> Response:
    """Map an SDK `Message` to the neutral `Response`."""
    parts: list[Text | ToolCall] = []
    for block in data.content:
        if block.type == "text":
            parts.append(Text(block.text))
        elif block.type == "tool_use":
            parts.append(ToolCall(block.id, block.name, dict(block.input or {})))
    u = data.usage
    usage = Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_write_tokens=u.cache_creation_input_tokens or 0,
        cache_read_tokens=u.cache_read_input_tokens or 0,
    )
    return Response(
        message=Message("assistant", tuple(parts)),
        usage=usage,
        model=data.model or model,
        stop_reason=data.stop_reason or "",
        raw_id=data.id or "",
    )


class AnthropicProvider:
    """Calls `POST /v1/messages` through `anthropic.AsyncAnthropic`.

    The SDK's own retries are off (`max_retries=0`): it retries every 429, spend-limit
    ones included, so `bot.agents.routing` does the retrying after classifying.
    """

    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self._secrets = tuple(s for s in (api_key,) if s)
        kwargs: dict[str, Any] = {"max_retries": 0, "timeout": timeout_s}
        if api_key is not None:
            kwargs["api_key"] = api_key
        if base_url is not None:
            kwargs["base_url"] = base_url
        if http_client is not None:
            kwargs["http_client"] = http_client
        self._client = anthropic.AsyncAnthropic(**kwargs)

    async def complete(self, request: Request, *, model: str) -> Response:
        payload = build_payload(request, model)
        try:
            data = await self._client.messages.create(**payload)
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc, model) from None
        except anthropic.APIConnectionError as exc:
            raise OverloadedError(
                f"cannot reach the Anthropic API: {type(exc).__name__}",
                provider=self.name,
                model=model,
            ) from None
        except anthropic.AnthropicError as exc:
            raise AuthError(str(exc), provider=self.name, model=model) from None
        return parse_response(data, model)

    def _status_error(self, exc: anthropic.APIStatusError, model: str) -> LLMError:
        return classify(
            exc.status_code,
            exc.body,
            exc.response.headers,
            provider=self.name,
            model=model,
            secrets=self._secrets,
        )

    async def aclose(self) -> None:
        await self._client.close()
