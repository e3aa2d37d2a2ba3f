"""The audit trail of a work item: who reported what, when, and what came of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.workitem.states import Effect, Event, State


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, when, and what came of it; flat strings, ready for a Redis stream."""

    at: datetime
    actor: str
    event: Event
    from_state: State
    to_state: State | None
    effects: tuple[Effect, ...] = ()
    detail: str = ""
    rejected: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "event": self.event.value,
            "from": self.from_state.value,
            "to": self.to_state.value if self.to_state else "",
            "effects": ",".join(self.effects),
            "detail": self.detail,
            "rejected": self.rejected,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> AuditEntry:
        return cls(
            at=datetime.fromisoformat(data["at"]),
            actor=data["actor"],
            event=Event(data["event"]),
            from_state=State(data["from"]),
            to_state=State(data["to"]) if data["to"] else None,
            effects=tuple(Effect(e) for e in data["effects"].split(",") if e),
            detail=data.get("detail", ""),
            rejected=data.get("rejected", ""),
        )
