"""Where an agent run stands after a complete step, as JSON another process can continue from.

The loop hands one to its `on_checkpoint` hook after every step whose tool results are in
(and once more when the run finishes); `run_agent(resume=…)` continues the conversation
from it. The system prompt and the repository context travel with it, so the resumed
requests repeat the earlier ones byte for byte and the provider's prompt cache still hits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.agents.llm.types import Message, Part, Text, ToolCall, ToolResult, Usage

FORMAT = 1


@dataclass(frozen=True)
class LoopState:
    """A run after `steps` model calls: the conversation so far and what it has cost."""

    system: str
    context: str
    messages: tuple[Message, ...]
    steps: int
    usage: Usage
    cost_usd: float
    models: tuple[str, ...] = ()
    files_changed: tuple[str, ...] = ()
    finished: str | None = None
    """The `finish` summary once the run ended well: a resumed run returns it at once."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": FORMAT,
            "system": self.system,
            "context": self.context,
            "messages": [_message(m) for m in self.messages],
            "steps": self.steps,
            "usage": vars(self.usage),
            "cost_usd": self.cost_usd,
            "models": list(self.models),
            "files_changed": list(self.files_changed),
            "finished": self.finished,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        """Read `to_dict`'s output; ValueError for anything else (another format, damage)."""
        if data.get("v") != FORMAT:
            raise ValueError(f"checkpoint format {data.get('v')!r} is not {FORMAT}")
        try:
            return cls(
                system=data["system"],
                context=data["context"],
                messages=tuple(_read_message(m) for m in data["messages"]),
                steps=int(data["steps"]),
                usage=Usage(**data["usage"]),
                cost_usd=float(data["cost_usd"]),
                models=tuple(data["models"]),
                files_changed=tuple(data["files_changed"]),
                finished=data["finished"],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"checkpoint is malformed: {exc!r}") from None


def _message(message: Message) -> dict[str, Any]:
    return {"role": message.role, "parts": [_part(p) for p in message.parts]}


def _part(part: Part) -> dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, ToolCall):
        return {"type": "call", "id": part.id, "name": part.name, "arguments": part.arguments}
    return {
        "type": "result",
        "call_id": part.call_id,
        "content": part.content,
        "is_error": part.is_error,
    }


def _read_message(data: dict[str, Any]) -> Message:
    if data["role"] not in ("user", "assistant"):
        raise ValueError(f"checkpoint message role {data['role']!r}")
    return Message(data["role"], tuple(_read_part(p) for p in data["parts"]))


def _read_part(data: dict[str, Any]) -> Part:
    kind = data["type"]
    if kind == "text":
        return Text(data["text"])
    if kind == "call":
        return ToolCall(data["id"], data["name"], dict(data["arguments"]))
    if kind == "result":
        return ToolResult(data["call_id"], data["content"], bool(data["is_error"]))
    raise ValueError(f"checkpoint part type {kind!r}")
