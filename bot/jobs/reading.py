"""What agents read from GitHub: an issue with its comments, a pull request, as briefs' views."""

from __future__ import annotations

import re
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.briefs.views import CommentView, IssueView, PullRequestView
from bot.github.permissions import can_steer
from bot.runtime.context import WorkerContext
from bot.workitem.item import WorkItem

MAX_COMMENTS = 50
"""Comments of an issue the CTO reads: the latest ones, when a thread is longer."""


async def read_issue(
    ctx: WorkerContext, gh: GitHubAPI, item: WorkItem
) -> tuple[IssueView, list[CommentView]]:
    """The issue and its comments, each comment marked permitted or not (untrusted context).

    Permitted means write access by GitHub's permission API, nothing else: the issue's
    author without it is quoted as untrusted context like anyone else.
    """
    owner, name = item.repo.split("/")
    text = item.issue
    if text is not None:
        # The text as at the trigger, or as a permitted user edited it since: never what the
        # issue says now, which anyone who can edit it may have changed.
        view = IssueView(item.repo, item.number, text.title, text.body, text.author, text.edited_by)
    else:
        # An item started before AIOS kept the text (formats 1 to 3): read it as they did.
        issue = await gh.getitem(
            "/repos/{+repo}/issues/{number}", {"repo": item.repo, "number": item.number}
        )
        view = IssueView(
            item.repo,
            item.number,
            str(issue.get("title") or ""),
            str(issue.get("body") or ""),
            login_of(issue.get("user")),
        )
    comments: list[CommentView] = []
    async for comment in gh.getiter(
        "/repos/{+repo}/issues/{number}/comments{?per_page}",
        {"repo": item.repo, "number": item.number, "per_page": 100},
    ):
        user = comment.get("user") or {}
        if user.get("type") == "Bot":
            continue  # our own comments (plan, questions, progress) and other bots'
        login = login_of(user)
        permitted = await can_steer(
            gh, ctx.redis, owner=owner, repo=name, login=login, user_type=user.get("type")
        )
        comments.append(CommentView(login, str(comment.get("body") or ""), permitted))
    return view, comments[-MAX_COMMENTS:]


async def read_pull_request(gh: GitHubAPI, repo: str, number: int) -> PullRequestView:
    pr = await gh.getitem("/repos/{+repo}/pulls/{number}", {"repo": repo, "number": number})
    head_repo = (pr["head"].get("repo") or {}).get("full_name") or repo
    return PullRequestView(
        number=number,
        title=str(pr.get("title") or ""),
        body=str(pr.get("body") or ""),
        base=str(pr["base"]["ref"]),
        head_ref=str(pr["head"]["ref"]),
        head_sha=str(pr["head"]["sha"]),
        head_repo=str(head_repo),
        head_clone_url=str((pr["head"].get("repo") or {}).get("clone_url") or ""),
    )


_CLOSES = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(?P<number>\d+)\b", re.IGNORECASE
)
"""GitHub's closing keywords: `Fixes #12` in a pull request's body links it to issue 12."""


async def pulls_fixing(gh: GitHubAPI, repo: str, issue_number: int) -> list[int]:
    """The open pull requests whose description closes `issue_number`, oldest first."""
    found = []
    async for pr in gh.getiter(
        "/repos/{+repo}/pulls{?state,per_page}", {"repo": repo, "state": "open", "per_page": 100}
    ):
        closes = {int(m["number"]) for m in _CLOSES.finditer(str(pr.get("body") or ""))}
        if issue_number in closes:
            found.append(int(pr["number"]))
    return sorted(found)


def login_of(user: Any) -> str:
    return str((user or {}).get("login") or "")
