"""A pull request's review threads: which ones wait for an answer, and replying in them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.redact import redact

THREADS_QUERY = """
query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id isResolved isOutdated path line originalLine
          comments(first: 100) {
            totalCount
            nodes { databaseId body author { __typename login } replyTo { databaseId } }
          }
        }
      }
    }
  }
}
"""

MAX_THREADS = 50
"""Threads one fix job answers; the rest wait for the next round (said in the task)."""

REPLY_CHARS = 3_000


@dataclass(frozen=True)
class ThreadComment:
    author: str
    is_bot: bool
    body: str
    is_reply: bool


@dataclass(frozen=True)
class ReviewThread:
    node_id: str
    path: str
    line: int | None
    outdated: bool
    first_comment_id: int
    comments: tuple[ThreadComment, ...]

    @property
    def answered(self) -> bool:
        """An App's reply is the thread's last word: AIOS (or another bot) answered it."""
        last = self.comments[-1]
        return last.is_bot and last.is_reply

    @property
    def last_human(self) -> str | None:
        humans = [c.author for c in self.comments if not c.is_bot]
        return humans[-1] if humans else None


async def open_threads(gh: GitHubAPI, repo: str, pr_number: int) -> list[ReviewThread]:
    """Unresolved threads whose last comment is not an answer from an App, oldest first."""
    owner, name = repo.split("/")
    threads: list[ReviewThread] = []
    after: str | None = None
    while True:
        data = await gh.graphql(
            THREADS_QUERY, owner=owner, name=name, number=pr_number, after=after
        )
        page = data["repository"]["pullRequest"]["reviewThreads"]
        for node in page["nodes"]:
            thread = _thread(node)
            if thread is not None and not node["isResolved"] and not thread.answered:
                threads.append(thread)
        if not page["pageInfo"]["hasNextPage"]:
            return threads
        after = page["pageInfo"]["endCursor"]


def _thread(node: dict[str, Any]) -> ReviewThread | None:
    comments = [
        ThreadComment(
            author=str((c.get("author") or {}).get("login") or "ghost"),
            is_bot=(c.get("author") or {}).get("__typename") == "Bot",
            body=str(c.get("body") or ""),
            is_reply=c.get("replyTo") is not None,
        )
        for c in node["comments"]["nodes"]
    ]
    if not comments:
        return None
    return ReviewThread(
        node_id=str(node["id"]),
        path=str(node.get("path") or ""),
        line=node.get("line") or node.get("originalLine"),
        outdated=bool(node.get("isOutdated")),
        first_comment_id=int(node["comments"]["nodes"][0]["databaseId"]),
        comments=tuple(comments),
    )


async def steered_threads(
    threads: list[ReviewThread], may_steer: Callable[[str], Awaitable[bool]]
) -> list[ReviewThread]:
    """Threads whose last human word comes from someone with write access (or only from bots:
    the QA agent's own remarks); strangers' threads are not work orders."""
    kept = []
    for thread in threads:
        human = thread.last_human
        if human is None or await may_steer(human):
            kept.append(thread)
    return kept[:MAX_THREADS]


async def reply(gh: GitHubAPI, repo: str, pr_number: int, thread: ReviewThread, text: str) -> None:
    """Answer in the thread (GitHub threads replies under the thread's first comment)."""
    body = redact(text.strip())
    if len(body) > REPLY_CHARS:
        body = body[: REPLY_CHARS - 1] + "…"
    await gh.post(
        "/repos/{+repo}/pulls/{number}/comments/{comment_id}/replies",
        {"repo": repo, "number": pr_number, "comment_id": thread.first_comment_id},
        data={"body": body},
    )
