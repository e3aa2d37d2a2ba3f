"""Typed views of the webhook payload fields AIOS reads, so handlers do not dig through dicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.github.permissions import is_bot


@dataclass(frozen=True)
class Actor:
    login: str
    type: str

    @classmethod
    def of(cls, user: dict[str, Any] | None) -> Actor:
        user = user or {}
        return cls(login=str(user.get("login", "")), type=str(user.get("type", "")))

    @property
    def is_bot(self) -> bool:
        return is_bot(self.login, self.type)


@dataclass(frozen=True)
class RepoRef:
    owner: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @classmethod
    def parse(cls, full_name: str) -> RepoRef:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"not an owner/name repository: {full_name!r}")
        return cls(owner=owner, name=name)

    @classmethod
    def of(cls, repository: dict[str, Any]) -> RepoRef:
        return cls.parse(str(repository["full_name"]))


@dataclass(frozen=True)
class IssueLabeled:
    """`issues.labeled`: who put which label on which issue."""

    installation_id: int
    repo: RepoRef
    issue_number: int
    issue_title: str
    label: str
    sender: Actor
    issue: IssueSnapshot

    @classmethod
    def of(cls, data: dict[str, Any]) -> IssueLabeled:
        return cls(
            installation_id=int(data["installation"]["id"]),
            repo=RepoRef.of(data["repository"]),
            issue_number=int(data["issue"]["number"]),
            issue_title=str(data["issue"].get("title", "")),
            label=str((data.get("label") or {}).get("name", "")),
            sender=Actor.of(data.get("sender")),
            issue=IssueSnapshot.of(data["issue"]),
        )


@dataclass(frozen=True)
class IssueSnapshot:
    """The issue's text in a payload: what the sender saw when they acted."""

    title: str
    body: str
    author: str
    updated_at: str

    @classmethod
    def of(cls, issue: dict[str, Any]) -> IssueSnapshot:
        return cls(
            title=str(issue.get("title") or ""),
            body=str(issue.get("body") or ""),
            author=str((issue.get("user") or {}).get("login") or ""),
            updated_at=str(issue.get("updated_at") or ""),
        )


def installation_id_of(data: dict[str, Any]) -> int | None:
    installation = data.get("installation") or {}
    value = installation.get("id")
    return int(value) if value is not None else None
