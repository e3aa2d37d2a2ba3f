"""LLM providers behind one interface: Anthropic (official SDK) and OpenAI-compatible endpoints."""

from bot.agents.llm.anthropic import AnthropicProvider
from bot.agents.llm.openai import OpenAIProvider
from bot.agents.llm.types import (
    Message,
    Part,
    Provider,
    Request,
    Response,
    Text,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)

__all__ = [
    "AnthropicProvider",
    "Message",
    "OpenAIProvider",
    "Part",
    "Provider",
    "Request",
    "Response",
    "Text",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "Usage",
]
