"""OpenAI-compatible chat-completions provider (OpenAI, Azure, vLLM, Ollama…) over httpx2."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx2

from bot.agents.errors import BadRequestError, OverloadedError
from bot.agents.llm.classify import classify
from bot.agents.llm.types import Message, Request, Response, Text, ToolCall, ToolResult, Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def build_payload(request: Request, model: str) -> dict[str, Any]:
    """The chat-completions body. System prompt and context lead every request unchanged, so
    providers with automatic prefix caching (OpenAI, vLLM) can reuse them."""
    system = request.system + (f"\n\n{request.context}" if request.context else "")
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for message in request.messages:
        messages.extend(_messages(message))
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if request.tools:
        payload["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
            for t in request.tools
        ]
    return payload


def _messages(message: Message) -> list[dict[str, Any]]:
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        calls = message.tool_calls
        if calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in calls
            ]
        return [out]
    result: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, ToolResult):
            content = f"ERROR: {part.content}" if part.is_error else part.content
            result.append({"role": "tool", "tool_call_id": part.call_id, "content": content})
    if message.text:
        result.append({"role": "user", "content": message.text})
    return result


def parse_response(data: dict[str, Any], model: str) -> Response:
    try:
        choice = data["choices"][0]
        msg = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise BadRequestError(
            f"unexpected chat-completions answer: {str(data)[:300]}", provider="openai", model=model
        ) from None
    parts: list[Text | ToolCall] = []
    if msg.get("content"):
        parts.append(Text(str(msg["content"])))
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        raw = fn.get("arguments") or "{}"
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except json.JSONDecodeError:
            arguments = {"_invalid_json": raw}
        if not isinstance(arguments, dict):
            arguments = {"_invalid_json": raw}
        parts.append(ToolCall(str(call.get("id") or ""), str(fn.get("name") or ""), arguments))
    u = data.get("usage") or {}
    cached = int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    usage = Usage(
        input_tokens=max(int(u.get("prompt_tokens") or 0) - cached, 0),
        output_tokens=int(u.get("completion_tokens") or 0),
        cache_read_tokens=cached,
    )
    return Response(
        message=Message("assistant", tuple(parts)),
        usage=usage,
        model=str(data.get("model") or model),
        stop_reason=str(choice.get("finish_reason") or ""),
        raw_id=str(data.get("id") or ""),
    )


def auth_headers(api_key: str | None, base_url: str) -> dict[str, str]:
    """A bearer key, or Azure's `api-key` header on Azure hosts; none without a key."""
    if not api_key:
        return {}
    if (urlsplit(base_url).hostname or "").endswith(".azure.com"):
        return {"api-key": api_key}
    return {"authorization": f"Bearer {api_key}"}


class OpenAIProvider:
    """POST `{base_url}/chat/completions` with a bearer key (Azure hosts: an `api-key` header)."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        http_client: httpx2.AsyncClient | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._secrets = tuple(s for s in (api_key,) if s)
        self._headers = {"content-type": "application/json", **auth_headers(api_key, base_url)}
        self._client = http_client or httpx2.AsyncClient(timeout=timeout_s)

    async def complete(self, request: Request, *, model: str) -> Response:
        payload = build_payload(request, model)
        try:
            answer = await self._client.post(self._url, json=payload, headers=self._headers)
        except httpx2.HTTPError as exc:
            raise OverloadedError(
                f"cannot reach {self._url}: {type(exc).__name__}", provider=self.name, model=model
            ) from None
        try:
            body: Any = answer.json()
        except ValueError:
            body = answer.text
        if answer.status_code >= 400:
            raise classify(
                answer.status_code,
                body,
                answer.headers,
                provider=self.name,
                model=model,
                secrets=self._secrets,
            )
        if not isinstance(body, dict):
            raise BadRequestError("answer is not a JSON object", provider=self.name, model=model)
        return parse_response(body, model)

    async def aclose(self) -> None:
        await self._client.aclose()
