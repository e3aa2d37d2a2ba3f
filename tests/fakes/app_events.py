"""Official webhook examples re-aimed at the fake's App, repository, issue and users."""

from __future__ import annotations

from typing import Any

from tests.fakes import webhooks
from tests.fakes.github import FakeGitHub


def _user(login: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": abs(hash(login)) % 10**7,
        "type": "Bot" if login.endswith("[bot]") else "User",
    }


def _aim(
    payload: dict[str, Any], fake: FakeGitHub, repo: str, installation_id: int
) -> dict[str, Any]:
    owner, name = repo.split("/")
    payload["repository"] = {
        **payload.get("repository", {}),
        "full_name": repo,
        "name": name,
        "owner": {**payload.get("repository", {}).get("owner", {}), "login": owner},
    }
    payload["installation"] = {"id": installation_id, "node_id": f"inst-{installation_id}"}
    return payload


def issue_labeled(
    fake: FakeGitHub,
    repo: str,
    number: int,
    label: str,
    *,
    sender: str = "alice",
    installation_id: int = 1,
) -> dict[str, Any]:
    payload = webhooks.example("issues", "labeled")
    issue = fake.repo(repo).issues[number]
    payload["issue"] = {
        **payload["issue"],
        "number": number,
        "title": issue.title,
        "body": issue.body,
    }
    payload["label"] = {**payload["label"], "name": label}
    payload["sender"] = _user(sender)
    return _aim(payload, fake, repo, installation_id)


def installation_created(
    fake: FakeGitHub, repos: list[str], *, installation_id: int = 1
) -> dict[str, Any]:
    payload = webhooks.example("installation", "created")
    payload["installation"] = {**payload["installation"], "id": installation_id}
    payload["repositories"] = [
        {"id": n, "node_id": f"repo-{n}", "name": r.split("/")[1], "full_name": r, "private": False}
        for n, r in enumerate(repos, start=1)
    ]
    return payload


def installation_deleted(*, installation_id: int = 1) -> dict[str, Any]:
    payload = webhooks.example("installation", "deleted")
    payload["installation"] = {**payload["installation"], "id": installation_id}
    return payload
