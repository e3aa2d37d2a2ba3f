"""People acting on the fake GitHub (comment, edit, label) and the webhooks that follow."""

from __future__ import annotations

from typing import Any, cast

from bot.testbed.github import app_events
from bot.testbed.github.facade import Fake
from bot.testbed.github.routes.issues import ensure_label
from bot.testbed.github.state import Comment, Issue, iso


class People:
    """FakeGitHub's methods for what maintainers do in the GitHub UI (a mixin).

    Each changes the fake's state, then (unless `deliver=False`) sends the webhook GitHub
    would send to `webhook_url`. The `a…` twins deliver without blocking the caller's loop,
    for async tests whose receiver runs on that loop.
    """

    @property
    def _fake(self) -> Fake:
        return cast("Fake", self)

    # -- comments ----------------------------------------------------------------------------

    def comment_as(
        self, user: str, full_name: str, number: int, body: str, *, deliver: bool = True
    ) -> Comment:
        """`user` comments on issue or pull request #`number` (`issue_comment.created`)."""
        comment, payload = self._comment(user, full_name, number, body)
        if deliver:
            self._fake.deliver("issue_comment", payload)
        return comment

    async def acomment_as(
        self, user: str, full_name: str, number: int, body: str, *, deliver: bool = True
    ) -> Comment:
        comment, payload = self._comment(user, full_name, number, body)
        if deliver:
            await self._fake.adeliver("issue_comment", payload)
        return comment

    def edit_comment_as(
        self, user: str, comment_id: int, new_body: str, *, deliver: bool = True
    ) -> Comment:
        """`user` edits a comment, e.g. ticks a checkbox (`issue_comment.edited`, with changes)."""
        comment, payload = self._edit(user, comment_id, new_body)
        if deliver:
            self._fake.deliver("issue_comment", payload)
        return comment

    async def aedit_comment_as(
        self, user: str, comment_id: int, new_body: str, *, deliver: bool = True
    ) -> Comment:
        comment, payload = self._edit(user, comment_id, new_body)
        if deliver:
            await self._fake.adeliver("issue_comment", payload)
        return comment

    def _comment(
        self, user: str, full_name: str, number: int, body: str
    ) -> tuple[Comment, dict[str, Any]]:
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            if number not in repo.issues:
                raise KeyError(f"{full_name} has no issue or pull request #{number}")
            login = self._fake.state.user(user).login
            comment = Comment(self._fake.state.next_id(), repo.full_name, number, body, login)
            self._fake.state.comments[comment.id] = comment
            repo.issues[number].updated_at = iso()
            return comment, app_events.issue_comment(self._fake, repo.full_name, comment.id)

    def _edit(self, user: str, comment_id: int, new_body: str) -> tuple[Comment, dict[str, Any]]:
        with self._fake.lock:
            comment = self._fake.state.comments.get(comment_id)
            if comment is None:
                raise KeyError(f"no comment {comment_id}")
            previous, comment.body, comment.updated_at = comment.body, new_body, iso()
            payload = app_events.issue_comment(
                self._fake,
                comment.repo,
                comment.id,
                action="edited",
                sender=user,
                previous_body=previous,
            )
            return comment, payload

    # -- issues --------------------------------------------------------------------------------

    def edit_issue_as(
        self,
        user: str,
        full_name: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        deliver: bool = True,
    ) -> Issue:
        """`user` edits the issue's title or body (`issues.edited`, with the old values)."""
        with self._fake.lock:
            issue = self._fake.repo(full_name).issues[number]
            previous: dict[str, str] = {}
            if title is not None:
                previous["title"], issue.title = issue.title, title
            if body is not None:
                previous["body"], issue.body = issue.body or "", body
            issue.updated_at = iso()
        payload = app_events.issue_edited(
            self._fake, full_name, number, sender=user, previous=previous
        )
        if deliver:
            self._fake.deliver("issues", payload)
        return issue

    def tick_as(self, user: str, full_name: str, number: int, box: str) -> Issue:
        """`user` ticks the first unticked box of issue #`number` whose line contains `box`."""
        with self._fake.lock:
            body = self._fake.repo(full_name).issues[number].body or ""
        lines = body.split("\n")
        for index, line in enumerate(lines):
            if box in line and line.lstrip().startswith("- [ ]"):
                lines[index] = line.replace("- [ ]", "- [x]", 1)
                return self.edit_issue_as(user, full_name, number, body="\n".join(lines))
        raise KeyError(f"no unticked box with {box!r} in #{number}")

    # -- labels ------------------------------------------------------------------------------

    def label_issue_as(
        self, user: str, full_name: str, number: int, label: str, *, deliver: bool = True
    ) -> Issue:
        """`user` adds `label` to #`number` (created in the repo when new).

        GitHub sends `issues.labeled` for an issue and `pull_request.labeled` for a PR.
        """
        issue, event, payload = self._label(user, full_name, number, label)
        if deliver:
            self._fake.deliver(event, payload)
        return issue

    async def alabel_issue_as(
        self, user: str, full_name: str, number: int, label: str, *, deliver: bool = True
    ) -> Issue:
        issue, event, payload = self._label(user, full_name, number, label)
        if deliver:
            await self._fake.adeliver(event, payload)
        return issue

    def _label(
        self, user: str, full_name: str, number: int, label: str
    ) -> tuple[Issue, str, dict[str, Any]]:
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            issue = repo.issues.get(number)
            if issue is None:
                raise KeyError(f"{full_name} has no issue or pull request #{number}")
            known = ensure_label(self._fake.state, repo, label)
            if known.name.lower() not in {name.lower() for name in issue.labels}:
                issue.labels.append(known.name)
            issue.updated_at = iso()
            if number in repo.pulls:
                payload = app_events.pull_request(
                    self._fake, full_name, number, action="labeled", sender=user, label=known.name
                )
                return issue, "pull_request", payload
            payload = app_events.issue_labeled(
                self._fake, full_name, number, known.name, sender=user
            )
            return issue, "issues", payload
