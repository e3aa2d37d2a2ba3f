"""A scripted LLM at the HTTP boundary: Messages API and chat-completions shapes, honest usage.

Tests describe a run as a list of model turns (text, tool calls) or failures (`turns.py`);
the fake answers in order, validates each request the way the real APIs do, and reports usage
with cache reads computed from the prefix shared with earlier requests, up to the last
`cache_control` breakpoint. Use it in-process (`transport()`, `client()`) or across
processes (`with LoopbackLLM(model) as server: server.url`, from `llm_server.py`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from bot.testbed.turns import Fail, Hang, Turn

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
"""Anthropic checks for cache hits at most about 20 blocks before each breakpoint."""


class InvalidRequest(Exception):
    pass


@dataclass
class Recorded:
    api: str
    model: str
    body: dict[str, Any]
    status: int
    usage: dict[str, int] = field(default_factory=dict)


class ScriptedModel:
    """Answers requests from `script` in order; `always_fail` maps a model name to a failure."""

    def __init__(
        self,
        script: Iterable[Turn | Fail | Hang] = (),
        *,
        always_fail: Mapping[str, Fail] | None = None,
        chars_per_token: int = 4,
        min_cache_tokens: int = 1024,
        api_key: str | None = None,
        models: Iterable[str] = ("claude-sonnet-5-5", "claude-haiku-5-5", "gpt-4.1"),
    ) -> None:
        self.script: list[Turn | Fail | Hang] = list(script)
        self.models = list(models)
        self.listings: list[str] = []
        """The API shape ("anthropic" or "openai") of each models listing, in order."""
        self.always_fail = dict(always_fail or {})
        self.chars_per_token = chars_per_token
        self.min_cache_tokens = min_cache_tokens
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self._cache: set[tuple[str, str]] = set()
        self._openai_prefixes: dict[str, list[list[str]]] = {}
        self._ids = 0
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def transport(self) -> httpx2.MockTransport:
        def handler(request: httpx2.Request) -> httpx2.Response:
            status, body, headers = self.handle(
                request.url.path, dict(request.headers), request.content
            )
            return httpx2.Response(status, json=body, headers=headers)

        return httpx2.MockTransport(handler)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=self.transport())

    def handle(
        self, path: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            api = "anthropic" if path.rstrip("/").endswith("/messages") else "openai"
            if not path.rstrip("/").endswith(("/messages", "/chat/completions")):
                return 404, error_body(api, "not_found_error", f"no route {path}"), {}
            lowered = {k.lower(): v for k, v in headers.items()}
            presented = (
                lowered.get("x-api-key")
                or lowered.get("api-key")
                or (lowered.get("authorization", "").removeprefix("Bearer ").strip())
            )
            if not presented or (self.api_key and presented != self.api_key):
                return 401, error_body(api, "authentication_error", "invalid x-api-key"), {}
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, error_body(api, "invalid_request_error", "body is not JSON"), {}
            model = str(body.get("model", ""))
            failure = self.always_fail.get(model)
            if failure is None and self.script and isinstance(self.script[0], Fail):
                failure = self.script.pop(0)  # type: ignore[assignment]
            if failure is not None:
                self.requests.append(Recorded(api, model, body, failure.status))
                return (
                    failure.status,
                    error_body(api, failure.error_type, failure.message, failure.code),
                    failure.headers,
                )
            try:
                if api == "anthropic":
                    usage_in = self._anthropic_validate_and_cache(body)
                else:
                    usage_in = self._openai_validate_and_cache(body)
            except InvalidRequest as exc:
                self.requests.append(Recorded(api, model, body, 400))
                return 400, error_body(api, "invalid_request_error", str(exc)), {}
            if not self.script:
                self.requests.append(Recorded(api, model, body, 500))
                return (
                    500,
                    error_body(api, "api_error", "the test script has no more turns"),
                    {"x-should-retry": "false"},
                )
            turn = self.script.pop(0)
            assert isinstance(turn, Turn)
            if turn.on_serve is not None:
                turn.on_serve()
            answer = self._anthropic_answer if api == "anthropic" else self._openai_answer
            status, data = answer(model, turn, usage_in)
            self.requests.append(Recorded(api, model, body, status, data.get("usage", {})))
            return status, data, {}

    def list_models(
        self, path: str, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """GET /v1/models (Anthropic: x-api-key and anthropic-version) or {base}/models
        (OpenAI-compatible: a bearer key); neither counts as a model turn."""
        with self._lock:
            lowered = {k.lower(): v for k, v in headers.items()}
            api = "anthropic" if "anthropic-version" in lowered else "openai"
            if path.rstrip("/") not in ("/v1/models", "/models"):
                return 404, error_body(api, "not_found_error", f"no route {path}"), {}
            presented = lowered.get("x-api-key") or (
                lowered.get("authorization", "").removeprefix("Bearer ").strip()
            )
            self.listings.append(api)
            if not presented or (self.api_key and presented != self.api_key):
                return 401, error_body(api, "authentication_error", "invalid x-api-key"), {}
            if api == "anthropic":
                data = [
                    {
                        "type": "model",
                        "id": name,
                        "display_name": name,
                        "created_at": "2026-01-01T00:00:00Z",
                    }
                    for name in self.models
                ]
                first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
                body = {"data": data, "has_more": False, "first_id": first, "last_id": last}
                return 200, body, {}
            listed = [
                {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}
                for name in self.models
            ]
            return 200, {"object": "list", "data": listed}, {}

    def take_hang(self, path: str, raw: bytes) -> Hang | None:
        """The `Hang` at the head of the script, if any, with its request recorded."""
        with self._lock:
            if not self.script or not isinstance(self.script[0], Hang):
                return None
            hang = self.script.pop(0)
            assert isinstance(hang, Hang)
            api = "anthropic" if path.rstrip("/").endswith("/messages") else "openai"
            body = json.loads(raw)
            self.requests.append(Recorded(api, str(body.get("model", "")), body, 0))
            return hang

    def tokens(self, text: str) -> int:
        return max(1, math.ceil(len(text) / self.chars_per_token))

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:04d}"

    # -- Anthropic Messages API -------------------------------------------------------------

    def _anthropic_validate_and_cache(self, body: dict[str, Any]) -> dict[str, int]:
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise InvalidRequest("model: field required")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            raise InvalidRequest("max_tokens: must be a positive integer")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("messages: at least one message is required")
        blocks: list[tuple[str, bool]] = []  # canonical block text, carries a breakpoint
        for tool in body.get("tools", []):
            if not TOOL_NAME.match(str(tool.get("name", ""))):
                raise InvalidRequest(f"tools: invalid name {tool.get('name')!r}")
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise InvalidRequest(f"tools.{tool['name']}.input_schema: type must be object")
            blocks.append(_canonical("tool", tool))
        system = body.get("system", [])
        if isinstance(system, str):
            system = [{"type": "text", "text": system}]
        for block in system:
            if block.get("type") != "text" or not block.get("text"):
                raise InvalidRequest("system: text blocks must be non-empty")
            blocks.append(_canonical("system", block))
        pending: set[str] = set()
        for i, message in enumerate(messages):
            expected = "user" if i % 2 == 0 else "assistant"
            if message.get("role") != expected:
                raise InvalidRequest(f"messages.{i}.role: roles must alternate, starting with user")
            content = message.get("content")
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            if not content:
                raise InvalidRequest(f"messages.{i}: content must be non-empty")
            answered = set()
            uses = set()
            for block in content:
                kind = block.get("type")
                if kind == "text" and not block.get("text"):
                    raise InvalidRequest(f"messages.{i}: text content blocks must be non-empty")
                if kind == "tool_use":
                    if expected != "assistant":
                        raise InvalidRequest(f"messages.{i}: tool_use only in assistant messages")
                    uses.add(block["id"])
                elif kind == "tool_result":
                    if block.get("tool_use_id") not in pending:
                        raise InvalidRequest(
                            f"messages.{i}: tool_result {block.get('tool_use_id')} "
                            "has no matching tool_use"
                        )
                    answered.add(block["tool_use_id"])
                elif kind not in ("text", "tool_use", "tool_result"):
                    raise InvalidRequest(f"messages.{i}: unknown block type {kind!r}")
                blocks.append(_canonical(message["role"], block))
            if expected == "user" and pending - answered:
                raise InvalidRequest(
                    f"messages.{i}: tool_use ids {sorted(pending - answered)} were found without "
                    "tool_result blocks immediately after"
                )
            pending = uses
        if messages[-1]["role"] != "user":
            raise InvalidRequest("the last message must be from the user")
        marks = [i for i, (_text, mark) in enumerate(blocks) if mark]
        if len(marks) > MAX_BREAKPOINTS:
            raise InvalidRequest(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided"
            )
        return self._cache_usage(body["model"], [t for t, _m in blocks], marks)

    def _cache_usage(self, model: str, blocks: list[str], marks: list[int]) -> dict[str, int]:
        sizes = [self.tokens(b) for b in blocks]
        hashes = _prefix_hashes(blocks)
        total = sum(sizes)
        if not marks:
            return {
                "input_tokens": total,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            }
        last = marks[-1]
        read_upto = -1
        for mark in marks:
            # Like the API: each breakpoint looks back a limited number of blocks for a hit.
            for j in range(mark, max(-1, mark - LOOKBACK_BLOCKS - 1), -1):
                if (model, hashes[j]) in self._cache:
                    read_upto = max(read_upto, j)
                    break
        cached_span = sum(sizes[: last + 1])
        if cached_span < self.min_cache_tokens:
            return {
                "input_tokens": total,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            }
        read = sum(sizes[: read_upto + 1])
        write = cached_span - read
        for mark in marks:
            self._cache.add((model, hashes[mark]))
        return {
            "input_tokens": total - cached_span,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
        }

    def _anthropic_answer(
        self, model: str, turn: Turn, usage_in: dict[str, int]
    ) -> tuple[int, dict[str, Any]]:
        content: list[dict[str, Any]] = []
        if turn.text:
            content.append({"type": "text", "text": turn.text})
        for name, arguments in turn.calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": self._next_id("toolu_"),
                    "name": name,
                    "input": arguments,
                }
            )
        out = turn.output_tokens or self.tokens(json.dumps(content))
        return 200, {
            "id": self._next_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if turn.calls else "end_turn",
            "stop_sequence": None,
            "usage": {**usage_in, "output_tokens": out},
        }

    # -- OpenAI chat completions ------------------------------------------------------------

    def _openai_validate_and_cache(self, body: dict[str, Any]) -> dict[str, int]:
        messages = body.get("messages")
        if not isinstance(body.get("model"), str) or not isinstance(messages, list) or not messages:
            raise InvalidRequest("model and messages are required")
        pending: set[str] = set()
        canonical = []
        for i, message in enumerate(messages):
            role = message.get("role")
            if role not in ("system", "user", "assistant", "tool"):
                raise InvalidRequest(f"messages[{i}].role: invalid {role!r}")
            if role == "tool":
                if message.get("tool_call_id") not in pending:
                    raise InvalidRequest(
                        f"messages[{i}]: 'tool' must answer a preceding message with 'tool_calls'"
                    )
                pending.discard(message["tool_call_id"])
            elif pending:
                raise InvalidRequest(
                    f"An assistant message with 'tool_calls' must be followed by tool messages "
                    f"responding to each 'tool_call_id'. Missing: {sorted(pending)}"
                )
            if role == "assistant":
                pending = {c["id"] for c in message.get("tool_calls") or []}
            canonical.append(json.dumps(message, sort_keys=True))
        for tool in body.get("tools", []):
            if tool.get("type") != "function" or not TOOL_NAME.match(
                tool["function"].get("name", "")
            ):
                raise InvalidRequest("tools: invalid function definition")
        blocks = [json.dumps(t, sort_keys=True) for t in body.get("tools", [])] + canonical
        sizes = [self.tokens(b) for b in blocks]
        best = 0
        for earlier in self._openai_prefixes.get(body["model"], []):
            shared = 0
            for a, b in zip(earlier, blocks, strict=False):
                if a != b:
                    break
                shared += 1
            best = max(best, sum(sizes[:shared]))
        self._openai_prefixes.setdefault(body["model"], []).append(blocks)
        total = sum(sizes)
        cached = best if best >= self.min_cache_tokens else 0
        return {"prompt_tokens": total, "cached_tokens": cached}

    def _openai_answer(
        self, model: str, turn: Turn, usage_in: dict[str, int]
    ) -> tuple[int, dict[str, Any]]:
        calls = [
            {
                "id": self._next_id("call_"),
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for name, arguments in turn.calls
        ]
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        if calls:
            message["tool_calls"] = calls
        out = turn.output_tokens or self.tokens(json.dumps(message))
        return 200, {
            "id": self._next_id("chatcmpl-"),
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
            ],
            "usage": {
                "prompt_tokens": usage_in["prompt_tokens"],
                "completion_tokens": out,
                "total_tokens": usage_in["prompt_tokens"] + out,
                "prompt_tokens_details": {"cached_tokens": usage_in["cached_tokens"]},
            },
        }


def _canonical(role: str, block: Mapping[str, Any]) -> tuple[str, bool]:
    """A block as the cache sees it: content without the breakpoint marker itself."""
    mark = "cache_control" in block
    clean = {k: v for k, v in block.items() if k != "cache_control"}
    return json.dumps({"role": role, "block": clean}, sort_keys=True, ensure_ascii=False), mark


def _prefix_hashes(blocks: list[str]) -> list[str]:
    digest = hashlib.sha256()
    out = []
    for block in blocks:
        digest.update(block.encode())
        digest.update(b"\x00")
        out.append(digest.copy().hexdigest())
    return out


def error_body(api: str, kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    if api == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": code, "param": None}}
