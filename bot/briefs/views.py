"""What an agent is shown of GitHub: an issue, its comments, a pull request, as plain data.

Jobs read these from GitHub (`bot.jobs.reading`); briefs turn them into delimited prompt text.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.briefs.text import as_attribute, untrusted

ISSUE_BODY_CHARS = 20_000
"""Cap on an issue body in a prompt; whatever is cut is said to be cut, never dropped silently."""


@dataclass(frozen=True)
class IssueView:
    repo: str
    number: int
    title: str
    body: str
    author: str
    edited_by: str | None = None
    """Who (with write access) edited the text after the work started; None: the original."""


@dataclass(frozen=True)
class CommentView:
    author: str
    body: str
    permitted: bool
    """Whether the author has write access (or above) to the repository."""


@dataclass(frozen=True)
class PullRequestView:
    number: int
    title: str
    body: str
    base: str
    head_ref: str
    head_sha: str
    head_repo: str
    head_clone_url: str


def issue_block(issue: IssueView) -> str:
    """The issue as delimited, untrusted data, marked with who wrote the text shown."""
    edited = f' edited-by="{as_attribute(issue.edited_by)}"' if issue.edited_by else ""
    return (
        f'<issue repo="{as_attribute(issue.repo)}" number="{issue.number}" '
        f'author="{as_attribute(issue.author)}"{edited}>\n'
        f"<title>{untrusted(issue.title)}</title>\n"
        f"<body>\n{untrusted(issue.body, ISSUE_BODY_CHARS) or '(empty)'}\n</body>\n"
        "</issue>"
    )
