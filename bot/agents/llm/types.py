"""Provider-neutral conversation types: messages, tool calls and results, requests, usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    content: str
    is_error: bool = False


Part = Text | ToolCall | ToolResult


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.parts if isinstance(p, Text))

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [p for p in self.parts if isinstance(p, ToolCall)]


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call; `input_schema` is a JSON Schema object."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """Tokens one call consumed. `input_tokens` counts only input billed at the base rate."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """All input tokens of the request, however they were billed."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
        )


@dataclass(frozen=True)
class Request:
    """One model call. `system`, `context` and `tools` form the stable, cacheable prefix."""

    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    context: str = ""
    max_tokens: int = 8192


@dataclass(frozen=True)
class Response:
    message: Message
    usage: Usage
    model: str
    stop_reason: str = ""
    raw_id: str = field(default="", compare=False)


class Provider(Protocol):
    """A chat model API. Implementations map `Request` to their wire format and back."""

    name: str

    async def complete(self, request: Request, *, model: str) -> Response:
        """One attempt, no retries. Raises a subclass of `bot.agents.errors.LLMError`."""
        ...

    async def aclose(self) -> None: ...
