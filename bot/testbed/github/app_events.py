"""Webhook payloads for the fake's App: official examples re-aimed at the fake's own state."""

from __future__ import annotations

from typing import Any

from bot.testbed import webhooks
from bot.testbed.github.facade import Fake
from bot.testbed.github.rest_json import pulls as github_json_pulls
from bot.testbed.github.rest_json.renderer import node_id
from bot.testbed.github.routes.pulls import facts, refresh

# Members of an example issue that only an issue which is a pull request carries.
PULL_ONLY = ("pull_request", "draft")


def aim(
    payload: dict[str, Any], fake: Fake, repo: str, installation_id: int | None
) -> dict[str, Any]:
    """Point an example at the fake's repository and at the installation that covers it."""
    if installation_id is None:
        installation = fake.state.installation_for(repo)
        installation_id = installation.id if installation is not None else 1
    rendered = fake.renderer().repo(fake.repo(repo), full=False)
    payload["repository"] = {**payload.get("repository", {}), **rendered}
    payload["installation"] = {
        "id": installation_id,
        "node_id": node_id("Installation", installation_id),
    }
    return payload


def _issue(fake: Fake, example: dict[str, Any], repo: str, number: int) -> dict[str, Any]:
    state = fake.repo(repo)
    if number not in state.issues:
        raise KeyError(f"{repo} has no issue or pull request #{number}")
    base = {k: v for k, v in example.items() if k not in PULL_ONLY}
    return {**base, **fake.renderer().issue(state, state.issues[number])}


def issue_labeled(
    fake: Fake,
    repo: str,
    number: int,
    label: str,
    *,
    sender: str = "alice",
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`issues.labeled`: `sender` put `label` on #`number` (the payload lists it on the issue)."""
    payload = webhooks.example("issues", "labeled")
    render = fake.renderer()
    with fake.lock:
        state = fake.repo(repo)
        payload["issue"] = _issue(fake, payload["issue"], repo, number)
        known = state.labels.get(label.lower())
        shaped = render.label(state, known) if known else {**payload["label"], "name": label}
        if all(item["name"].lower() != label.lower() for item in payload["issue"]["labels"]):
            payload["issue"]["labels"].append(shaped)
        payload["label"] = shaped
        payload["sender"] = render.user(sender)
        return aim(payload, fake, repo, installation_id)


def issue_edited(
    fake: Fake,
    repo: str,
    number: int,
    *,
    sender: str,
    previous: dict[str, str],
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`issues.edited`: `sender` changed the title or body; `previous` holds the old values."""
    payload = webhooks.example("issues", "edited")
    with fake.lock:
        payload["issue"] = _issue(fake, payload["issue"], repo, number)
        payload["changes"] = {name: {"from": value} for name, value in previous.items()}
        payload["sender"] = fake.renderer().user(sender)
        return aim(payload, fake, repo, installation_id)


def issue_comment(
    fake: Fake,
    repo: str,
    comment_id: int,
    *,
    action: str = "created",
    sender: str | None = None,
    previous_body: str | None = None,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`issue_comment.<action>` for a comment in the fake's state (`edited` needs the old body).

    `sender` defaults to the comment's author; for `edited` it is whoever changed it.
    """
    if action == "edited" and previous_body is None:
        raise ValueError("an `edited` payload needs previous_body (changes.body.from)")
    payload = webhooks.example("issue_comment", action)
    render = fake.renderer()
    with fake.lock:
        comment = fake.state.comments.get(comment_id)
        if comment is None or comment.repo.lower() != repo.lower():
            raise KeyError(f"{repo} has no comment {comment_id}")
        payload["issue"] = _issue(fake, payload["issue"], repo, comment.issue_number)
        payload["comment"] = {**payload["comment"], **render.comment(fake.repo(repo), comment)}
        payload["sender"] = render.user(sender or comment.user)
        if action == "edited":
            payload["changes"] = {"body": {"from": previous_body}}
        return aim(payload, fake, repo, installation_id)


def pull_request(
    fake: Fake,
    repo: str,
    number: int,
    *,
    action: str,
    sender: str = "alice",
    label: str | None = None,
    before: str | None = None,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`pull_request.<action>` for a pull request in the fake (`labeled` names its `label`).

    `synchronize` carries `before` (the previous head) and `after` (the new one).
    """
    payload = webhooks.example("pull_request", action)
    render = fake.renderer()
    with fake.lock:
        state = fake.repo(repo)
        pr = state.pulls.get(number)
        if pr is None:
            raise KeyError(f"{repo} has no pull request #{number}")
        refresh(state, pr)
        shaped = github_json_pulls.pull(render, state, pr, facts(state, pr))
        payload["number"] = number
        payload["pull_request"] = {**payload["pull_request"], **shaped}
        if action in ("labeled", "unlabeled"):
            if label is None:
                raise ValueError(f"a `{action}` payload needs the label")
            known = state.labels.get(label.lower())
            payload["label"] = render.label(state, known) if known else {"name": label}
        if action == "synchronize":
            if before is None:
                raise ValueError("a `synchronize` payload needs the previous head (before)")
            payload["before"], payload["after"] = before, pr.head_sha
        payload["sender"] = render.user(sender)
        return aim(payload, fake, repo, installation_id)


def installation_created(
    fake: Fake, repos: list[str], *, installation_id: int = 1
) -> dict[str, Any]:
    payload = webhooks.example("installation", "created")
    payload["installation"] = {**payload["installation"], "id": installation_id}
    listed = []
    for full_name in repos:
        known = fake.state.repo(full_name)
        ident = known.id if known is not None else len(listed) + 1
        name = full_name.split("/")[1]
        private = known.private if known is not None else False
        listed.append(
            {"id": ident, "node_id": node_id("Repository", ident), "name": name,
             "full_name": full_name, "private": private}
        )  # fmt: skip
    payload["repositories"] = listed
    return payload


def installation_deleted(*, installation_id: int = 1) -> dict[str, Any]:
    payload = webhooks.example("installation", "deleted")
    payload["installation"] = {**payload["installation"], "id": installation_id}
    return payload
