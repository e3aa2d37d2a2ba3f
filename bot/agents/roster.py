"""The team: roles with personas, expertise, allowed tools and default models (from roster.yml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.agents.tool_names import ALL_TOOLS

ROSTER_FILE = Path(__file__).with_name("roster.yml")


class RosterError(ValueError):
    """The roster file is malformed or a role is unknown; the message says which."""


@dataclass(frozen=True)
class Role:
    key: str
    title: str
    name: str
    emoji: str
    voice: str
    expertise: str
    focus: tuple[str, ...]
    tools: tuple[str, ...]
    model: str

    @property
    def persona(self) -> str:
        """How the agent signs its narration, e.g. `🛠️ Bea (Backend)`."""
        return f"{self.emoji} {self.name} ({self.title})"

    def signature(self, *, personas: bool = True) -> str:
        """Its persona, or with `progress.personas: false` its plain role (`Backend`)."""
        return self.persona if personas else self.title


@dataclass(frozen=True)
class Roster:
    roles: dict[str, Role]

    def get(self, key: str) -> Role:
        try:
            return self.roles[key.lower()]
        except KeyError:
            raise RosterError(
                f"unknown role {key!r}; choose one of: {', '.join(self.roles)}"
            ) from None


def load_roster(path: Path = ROSTER_FILE) -> Roster:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("roles"), dict):
        raise RosterError(f"{path}: expected a mapping with a `roles:` mapping")
    return Roster({key: _role(path, key, spec) for key, spec in data["roles"].items()})


def _role(path: Path, key: str, spec: Any) -> Role:
    fields = ("title", "name", "emoji", "voice", "expertise", "model")
    if not isinstance(spec, dict) or any(not isinstance(spec.get(f), str) for f in fields):
        raise RosterError(f"{path}: role {key!r} needs string fields {', '.join(fields)}")
    tools = tuple(spec.get("tools") or ())
    unknown = sorted(set(tools) - set(ALL_TOOLS))
    if unknown:
        raise RosterError(f"{path}: role {key!r} lists unknown tools {unknown}; known: {ALL_TOOLS}")
    if "finish" not in tools:
        raise RosterError(f"{path}: role {key!r} must be allowed the `finish` tool")
    return Role(
        key=key,
        title=spec["title"],
        name=spec["name"],
        emoji=spec["emoji"],
        voice=spec["voice"],
        expertise=" ".join(spec["expertise"].split()),
        focus=tuple(spec.get("focus") or ()),
        tools=tools,
        model=spec["model"],
    )
