"""The labels AIOS creates on each repository, and which agent role each one asks for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSpec:
    name: str
    color: str
    description: str
    role: str


LABELS: tuple[LabelSpec, ...] = (
    LabelSpec("aios", "5319e7", "AIOS: the CTO agent triages and plans this issue", "cto"),
    LabelSpec("aios:cto", "5319e7", "AIOS: the CTO agent plans this issue", "cto"),
    LabelSpec("aios:backend", "1d76db", "AIOS: the Backend agent takes this issue", "backend"),
    LabelSpec("aios:frontend", "0e8a16", "AIOS: the Frontend agent takes this issue", "frontend"),
    LabelSpec("aios:devops", "fbca04", "AIOS: the DevOps agent takes this issue", "devops"),
    LabelSpec("aios:qa", "d93f0b", "AIOS: the QA agent reviews this", "qa"),
)

_BY_NAME = {label.name.lower(): label for label in LABELS}


def role_for_label(name: str) -> str | None:
    """The agent role a label asks for, or None when it is not an AIOS label.

    GitHub label names are case-insensitive, so `AIOS:Backend` counts.
    """
    label = _BY_NAME.get(name.strip().lower())
    return None if label is None else label.role
