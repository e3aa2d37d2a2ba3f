"""Fake GitHub routes for repositories, permissions, labels, issues, comments and reactions."""

from __future__ import annotations

import re
from typing import Any

from bot.testbed.github.routes.toolkit import (
    Call,
    HTTPError,
    Reply,
    RouteTable,
    not_found,
    paginate,
    validation_failed,
)
from bot.testbed.github.state import Comment, Issue, Label, Reaction, Repo, State, iso

routes = RouteTable()

COLOR = re.compile(r"[0-9a-fA-F]{6}")


@routes.op("repos/get")
def get_repo(call: Call) -> Reply:
    return Reply(200, call.render.repo(call.repo()))


@routes.op("repos/get-collaborator-permission-level")
def get_permission(call: Call) -> Reply:
    repo = call.repo()
    login = call.params["username"]
    role = repo.roles.get(login.lower())
    if role is None:
        policy = call.state.non_collaborator_permission
        if policy is None:
            raise not_found()
        role = ("none" if repo.private else "read") if policy == "auto" else policy
    return Reply(200, call.render.permission(call.state.user(login).login, role))


# -- labels ------------------------------------------------------------------------------------


def ensure_label(state: State, repo: Repo, name: str) -> Label:
    """The repo's label with this name (case-insensitive), created like GitHub does when missing."""
    label = repo.labels.get(name.lower())
    if label is None:
        label = Label(id=state.next_id(), name=name)
        repo.labels[name.lower()] = label
    return label


def _label(call: Call) -> tuple[Repo, Label]:
    repo = call.repo()
    label = repo.labels.get(call.params["name"].lower())
    if label is None:
        raise not_found()
    return repo, label


def _check_color(color: Any) -> None:
    if color is not None and not COLOR.fullmatch(str(color).lstrip("#")):
        raise validation_failed("Label", "color", "invalid")


@routes.op("issues/list-labels-for-repo")
def list_labels(call: Call) -> Reply:
    repo = call.repo()
    labels = sorted(repo.labels.values(), key=lambda label: label.name.lower())
    return paginate(call, [call.render.label(repo, label) for label in labels])


@routes.op("issues/create-label")
def create_label(call: Call) -> Reply:
    repo = call.repo()
    name = call.field("name")
    if name.lower() in repo.labels:
        raise validation_failed("Label", "name", "already_exists")
    _check_color(call.field("color"))
    label = Label(
        id=call.state.next_id(),
        name=name,
        color=str(call.field("color", "ededed")).lstrip("#"),
        description=call.field("description"),
    )
    repo.labels[name.lower()] = label
    body = call.render.label(repo, label)
    return Reply(201, body, {"Location": body["url"]})


@routes.op("issues/get-label")
def get_label(call: Call) -> Reply:
    repo, label = _label(call)
    return Reply(200, call.render.label(repo, label))


@routes.op("issues/update-label")
def update_label(call: Call) -> Reply:
    repo, label = _label(call)
    new_name = call.field("new_name")
    if new_name is not None and new_name.lower() != label.name.lower():
        if new_name.lower() in repo.labels:
            raise validation_failed("Label", "name", "already_exists")
        del repo.labels[label.name.lower()]
        for issue in repo.issues.values():
            issue.labels = [
                new_name if n.lower() == label.name.lower() else n for n in issue.labels
            ]
        label.name = new_name
        repo.labels[new_name.lower()] = label
    elif new_name is not None:
        label.name = new_name
    _check_color(call.field("color"))
    if call.field("color") is not None:
        label.color = str(call.field("color")).lstrip("#")
    if "description" in (call.body or {}):
        label.description = call.field("description")
    return Reply(200, call.render.label(repo, label))


@routes.op("issues/delete-label")
def delete_label(call: Call) -> Reply:
    repo, label = _label(call)
    del repo.labels[label.name.lower()]
    for issue in repo.issues.values():
        issue.labels = [n for n in issue.labels if n.lower() != label.name.lower()]
    return Reply(204)


# -- issues ------------------------------------------------------------------------------------


def _label_names(items: list[Any]) -> list[str]:
    return [item if isinstance(item, str) else item["name"] for item in items]


def _set_labels(call: Call, repo: Repo, issue: Issue, names: list[str]) -> None:
    issue.labels = []
    _add_labels(call, repo, issue, names)


def _add_labels(call: Call, repo: Repo, issue: Issue, names: list[str]) -> None:
    present = {name.lower() for name in issue.labels}
    for name in names:
        label = ensure_label(call.state, repo, name)
        if label.name.lower() not in present:
            issue.labels.append(label.name)
            present.add(label.name.lower())


@routes.op("issues/list-for-repo")
def list_issues(call: Call) -> Reply:
    repo = call.repo()
    state = call.query.get("state", "open")
    wanted = {n.strip().lower() for n in call.query.get("labels", "").split(",") if n.strip()}
    creator = call.query.get("creator", "").lower()
    issues = [
        issue
        for issue in sorted(repo.issues.values(), key=lambda i: i.number, reverse=True)
        if (state == "all" or issue.state == state)
        and wanted <= {name.lower() for name in issue.labels}
        and (not creator or issue.user.lower() == creator)
    ]
    if call.query.get("direction") == "asc":
        issues.reverse()
    return paginate(call, [call.render.issue(repo, issue) for issue in issues])


@routes.op("issues/create")
def create_issue(call: Call) -> Reply:
    repo = call.repo()
    issue = Issue(
        id=call.state.next_id(),
        number=repo.next_number,
        repo=repo.full_name,
        title=str(call.field("title")),
        body=call.field("body"),
        user=call.actor or "ghost",
        via_app=call.installation is not None,
        assignees=list(call.field("assignees") or []),
    )
    repo.next_number += 1
    repo.issues[issue.number] = issue
    _add_labels(call, repo, issue, _label_names(call.field("labels") or []))
    body = call.render.issue(repo, issue)
    return Reply(201, body, {"Location": body["url"]})


@routes.op("issues/get")
def get_issue(call: Call) -> Reply:
    return Reply(200, call.render.issue(call.repo(), call.issue()))


@routes.op("issues/update")
def update_issue(call: Call) -> Reply:
    repo, issue = call.repo(), call.issue()
    fields = call.body or {}
    if "title" in fields and fields["title"] is not None:
        issue.title = str(fields["title"])
    if "body" in fields:
        issue.body = fields["body"]
    if "labels" in fields:
        _set_labels(call, repo, issue, _label_names(fields["labels"] or []))
    if "assignees" in fields:
        issue.assignees = list(fields["assignees"] or [])
    new_state = fields.get("state")
    if new_state == "closed" and issue.state != "closed":
        issue.state, issue.closed_at, issue.closed_by = "closed", iso(), call.actor
        issue.state_reason = fields.get("state_reason") or "completed"
    elif new_state == "open" and issue.state != "open":
        issue.state, issue.closed_at, issue.closed_by = "open", None, None
        issue.state_reason = "reopened"
    issue.updated_at = iso()
    return Reply(200, call.render.issue(repo, issue))


@routes.op("issues/list-labels-on-issue")
def list_issue_labels(call: Call) -> Reply:
    repo, issue = call.repo(), call.issue()
    labels = [repo.labels[name.lower()] for name in issue.labels]
    return paginate(call, [call.render.label(repo, label) for label in labels])


@routes.op("issues/add-labels")
def add_issue_labels(call: Call) -> Reply:
    repo, issue = call.repo(), call.issue()
    _add_labels(call, repo, issue, _label_names(call.field("labels") or []))
    issue.updated_at = iso()
    return Reply(200, [call.render.label(repo, repo.labels[n.lower()]) for n in issue.labels])


@routes.op("issues/set-labels")
def set_issue_labels(call: Call) -> Reply:
    repo, issue = call.repo(), call.issue()
    _set_labels(call, repo, issue, _label_names(call.field("labels") or []))
    issue.updated_at = iso()
    return Reply(200, [call.render.label(repo, repo.labels[n.lower()]) for n in issue.labels])


@routes.op("issues/remove-label")
def remove_issue_label(call: Call) -> Reply:
    repo, issue = call.repo(), call.issue()
    name = call.params["name"].lower()
    if name not in {n.lower() for n in issue.labels}:
        raise HTTPError(404, "Label does not exist")
    issue.labels = [n for n in issue.labels if n.lower() != name]
    issue.updated_at = iso()
    return Reply(200, [call.render.label(repo, repo.labels[n.lower()]) for n in issue.labels])


# -- comments ----------------------------------------------------------------------------------


def _comment(call: Call) -> tuple[Repo, Comment]:
    repo = call.repo()
    comment = call.state.comments.get(int(call.params["comment_id"]))
    if comment is None or comment.repo != repo.full_name:
        raise not_found()
    return repo, comment


@routes.op("issues/list-comments")
def list_comments(call: Call) -> Reply:
    repo, issue = call.repo(), call.issue()
    since = call.query.get("since", "")
    comments = [
        comment
        for comment in sorted(call.state.comments.values(), key=lambda c: c.id)
        if comment.repo == repo.full_name
        and comment.issue_number == issue.number
        and comment.updated_at >= since
    ]
    return paginate(call, [call.render.comment(repo, comment) for comment in comments])


@routes.op("issues/create-comment")
def create_comment(call: Call) -> Reply:
    repo, issue = call.repo(), call.issue()
    comment = Comment(
        id=call.state.next_id(),
        repo=repo.full_name,
        issue_number=issue.number,
        body=call.field("body"),
        user=call.actor or "ghost",
        via_app=call.installation is not None,
    )
    call.state.comments[comment.id] = comment
    issue.updated_at = iso()
    body = call.render.comment(repo, comment)
    return Reply(201, body, {"Location": body["url"]})


@routes.op("issues/get-comment")
def get_comment(call: Call) -> Reply:
    repo, comment = _comment(call)
    return Reply(200, call.render.comment(repo, comment))


@routes.op("issues/update-comment")
def update_comment(call: Call) -> Reply:
    repo, comment = _comment(call)
    comment.body = call.field("body")
    comment.updated_at = iso()
    return Reply(200, call.render.comment(repo, comment))


@routes.op("issues/delete-comment")
def delete_comment(call: Call) -> Reply:
    _repo, comment = _comment(call)
    del call.state.comments[comment.id]
    return Reply(204)


# -- reactions ---------------------------------------------------------------------------------


def _react(call: Call, reactions: list[Reaction]) -> Reply:
    """GitHub answers 200 with the existing reaction when this user already left the same one."""
    user = call.actor or "ghost"
    content = call.field("content")
    for reaction in reactions:
        if reaction.user.lower() == user.lower() and reaction.content == content:
            return Reply(200, call.render.reaction(reaction))
    reaction = Reaction(id=call.state.next_id(), user=user, content=content)
    reactions.append(reaction)
    return Reply(201, call.render.reaction(reaction))


def _list_reactions(call: Call, reactions: list[Reaction]) -> Reply:
    content = call.query.get("content")
    chosen = [r for r in reactions if content is None or r.content == content]
    return paginate(call, [call.render.reaction(r) for r in chosen])


@routes.op("reactions/list-for-issue")
def list_issue_reactions(call: Call) -> Reply:
    return _list_reactions(call, call.issue().reactions)


@routes.op("reactions/create-for-issue")
def react_to_issue(call: Call) -> Reply:
    return _react(call, call.issue().reactions)


@routes.op("reactions/list-for-issue-comment")
def list_comment_reactions(call: Call) -> Reply:
    return _list_reactions(call, _comment(call)[1].reactions)


@routes.op("reactions/create-for-issue-comment")
def react_to_comment(call: Call) -> Reply:
    return _react(call, _comment(call)[1].reactions)
