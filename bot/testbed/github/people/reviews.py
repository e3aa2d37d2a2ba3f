"""People reviewing the fake's pull requests (reviews, replies) and what tests read back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from bot.testbed.github import app_events_loop
from bot.testbed.github.diff import DiffCache
from bot.testbed.github.facade import Fake
from bot.testbed.github.git import BareRepo
from bot.testbed.github.rest_json.renderer import node_id
from bot.testbed.github.reviews import (
    EVENTS,
    Unanchored,
    add_reply,
    add_review,
    anchor,
    comments_of,
    review_refusal,
    thread_comments,
    threads_of,
    where,
)
from bot.testbed.github.routes.pulls import refresh
from bot.testbed.github.state import Review, ReviewComment

Deliveries = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Thread:
    """A snapshot of a review thread as the pull request shows it now."""

    id: int
    node_id: str  # what GraphQL's reviewThreads and resolveReviewThread use
    path: str
    line: int  # where it was anchored (original_line)
    side: str
    resolved: bool
    resolved_by: str | None
    outdated: bool
    comments: list[ReviewComment]


class Reviewers:
    """FakeGitHub's methods for people's reviews (a mixin); `a…` twins deliver without blocking.

    People follow GitHub's rules too: inline comments must land on the diff (ValueError
    otherwise, naming the line), and nobody approves or requests changes on their own pull
    request; they may approve the ones the App opened.
    """

    @property
    def _fake(self) -> Fake:
        return cast("Fake", self)

    def review_as(
        self,
        user: str,
        full_name: str,
        number: int,
        event: str,
        body: str = "",
        comments: Iterable[Mapping[str, Any]] = (),
        *,
        deliver: bool = True,
    ) -> Review:
        """`user` submits a review (APPROVE, REQUEST_CHANGES or COMMENT) with inline `comments`.

        Each comment is a mapping like the REST API's (`path`, `line`, `side`, optional
        `start_line`/`start_side`, `body`). Delivers `pull_request_review.submitted`, then
        `pull_request_review_comment.created` for each inline comment.
        """
        review, events = self._review(user, full_name, number, event, body, comments)
        if deliver:
            for name, payload in events:
                self._fake.deliver(name, payload)
        return review

    async def areview_as(
        self,
        user: str,
        full_name: str,
        number: int,
        event: str,
        body: str = "",
        comments: Iterable[Mapping[str, Any]] = (),
        *,
        deliver: bool = True,
    ) -> Review:
        review, events = self._review(user, full_name, number, event, body, comments)
        if deliver:
            for name, payload in events:
                await self._fake.adeliver(name, payload)
        return review

    def reply_as(
        self,
        user: str,
        full_name: str,
        number: int,
        comment_id: int,
        body: str,
        *,
        deliver: bool = True,
    ) -> ReviewComment:
        """`user` replies in the thread of review comment `comment_id` (as the UI does: to its
        first comment). GitHub files the reply under a new COMMENTED review, so this delivers
        `pull_request_review_comment.created` and then `pull_request_review.submitted`.
        """
        reply, events = self._reply(user, full_name, number, comment_id, body)
        if deliver:
            for name, payload in events:
                self._fake.deliver(name, payload)
        return reply

    async def areply_as(
        self,
        user: str,
        full_name: str,
        number: int,
        comment_id: int,
        body: str,
        *,
        deliver: bool = True,
    ) -> ReviewComment:
        reply, events = self._reply(user, full_name, number, comment_id, body)
        if deliver:
            for name, payload in events:
                await self._fake.adeliver(name, payload)
        return reply

    # -- inspection --------------------------------------------------------------------------

    def reviews(self, full_name: str, number: int) -> list[Review]:
        """Every review of the pull request (pending ones too), oldest first."""
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            return sorted(
                (r for r in repo.reviews.values() if r.number == number), key=lambda r: r.id
            )

    def review_comments(self, full_name: str, number: int) -> list[ReviewComment]:
        """The pull request's submitted review comments (replies included), oldest first."""
        with self._fake.lock:
            return comments_of(self._fake.repo(full_name), number)

    def threads(self, full_name: str, number: int) -> list[Thread]:
        """The pull request's review threads, oldest first, resolved and outdated as shown now."""
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            pr = repo.pulls.get(number)
            if pr is None:
                raise KeyError(f"{full_name} has no pull request #{number}")
            refresh(repo, pr)
            cache = DiffCache(BareRepo(repo.git_dir)) if repo.git_dir is not None else None
            shown = []
            for thread in threads_of(repo, number):
                root = repo.review_comments[thread.root_id]
                shown.append(
                    Thread(
                        id=thread.id,
                        node_id=node_id("PullRequestReviewThread", thread.id),
                        path=root.path,
                        line=root.original_line,
                        side=root.side,
                        resolved=thread.resolved,
                        resolved_by=thread.resolved_by,
                        outdated=where(cache, pr, root).outdated,
                        comments=thread_comments(repo, thread),
                    )
                )
            return shown

    # -- the work ----------------------------------------------------------------------------

    def _review(
        self,
        user: str,
        full_name: str,
        number: int,
        event: str,
        body: str,
        comments: Iterable[Mapping[str, Any]],
    ) -> tuple[Review, Deliveries]:
        if event not in EVENTS:
            raise ValueError(f"event must be one of {sorted(EVENTS)}, not {event!r}")
        items = [dict(item) for item in comments]
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            pr = repo.pulls.get(number)
            if pr is None:
                raise KeyError(f"{full_name} has no pull request #{number}")
            refresh(repo, pr)
            login = self._fake.state.user(user).login
            refusal = review_refusal(pr, login, event, body, len(items), False)
            if refusal is not None:
                raise ValueError(f"GitHub would refuse this review: {refusal}")
            drafts = []
            if items:
                files = DiffCache(self._fake.git(full_name)).files(pr.base_sha, pr.head_sha)
                for item in items:
                    try:
                        drafts.append(anchor(files, item))
                    except Unanchored as exc:
                        raise ValueError(
                            f"GitHub would refuse this review: {exc.reason} ({exc.where} is "
                            f"not on the diff of #{number})"
                        ) from exc
            review = add_review(self._fake.state, repo, pr, login, event, body, pr.head_sha, drafts)
            events: Deliveries = [
                (
                    "pull_request_review",
                    app_events_loop.pull_request_review(self._fake, full_name, review.id),
                )
            ]
            for comment in comments_of(repo, number):
                if comment.review_id == review.id:
                    payload = app_events_loop.pull_request_review_comment(
                        self._fake, full_name, comment.id
                    )
                    events.append(("pull_request_review_comment", payload))
            return review, events

    def _reply(
        self, user: str, full_name: str, number: int, comment_id: int, body: str
    ) -> tuple[ReviewComment, Deliveries]:
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            to = repo.review_comments.get(comment_id)
            if to is None or to.number != number:
                raise KeyError(f"#{number} of {full_name} has no review comment {comment_id}")
            root = repo.review_comments[repo.threads[to.thread_id].root_id]
            pr = repo.pulls[number]
            refresh(repo, pr)
            login = self._fake.state.user(user).login
            reply = add_reply(self._fake.state, repo, pr, root, login, body)
            comment = app_events_loop.pull_request_review_comment(self._fake, full_name, reply.id)
            review = app_events_loop.pull_request_review(self._fake, full_name, reply.review_id)
            return reply, [
                ("pull_request_review_comment", comment),
                ("pull_request_review", review),
            ]
