"""Read a repository's own history for `aios eval --replay`: closed issues a merged PR fixed.

Only GET requests go to that GitHub, through the App's installation on the repository; the
one POST is the App minting that installation's read-only token for this repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import gidgethub
import httpx2

from bot.github.auth import AppCredentials, Credential
from bot.github.client import AppAuth, GitHubClient
from bot.github.scopes import TokenScope
from bot.github.sessions import HTTP_TIMEOUT, tls_context
from bot.settings import Settings

READ_ONLY = {"metadata": "read", "contents": "read", "issues": "read", "pull_requests": "read"}
"""All the replay needs: it reads issues, pull requests and code, and writes nothing."""
MAX_PULL_PAGES = 10
"""Closed pull requests looked at, newest first, 100 a page: enough for `--last 20` on a busy
repository without walking its whole history."""
CLOSING = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+"
    r"(?:https?://[^\s/]+/(?P<url_repo>[\w.-]+/[\w.-]+)/issues/|(?P<repo>[\w.-]+/[\w.-]+)?#)"
    r"(?P<number>\d+)\b",
    re.IGNORECASE,
)
"""GitHub's closing keywords followed by `#12`, `owner/name#12` or the issue's URL."""
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing"})
TEST_NAMES = re.compile(
    r"^(test_.*\.py|.*_test\.(py|go|rb)|conftest\.py|.*\.(test|spec)\.[cm]?[jt]sx?|.*_spec\.rb)$"
)


class HistoryError(RuntimeError):
    """The history cannot be read (no installation, no access): `str()` says what to do."""


@dataclass(frozen=True)
class Fix:
    """A closed issue, and the merged pull request whose description closed it."""

    issue: int
    title: str
    body: str
    labels: tuple[str, ...]
    closed_at: str
    pull: int
    merge_commit_sha: str
    tests: tuple[str, ...] = ()
    """The test files the pull request added or changed (paths at `merge_commit_sha`)."""


@dataclass(frozen=True)
class History:
    """What the replay read, and how to fetch the code (the token only lives in memory)."""

    repo: str
    clone_url: str
    token: str
    fixes: list[Fix]


def closing_issues(body: str | None, repo: str) -> list[int]:
    """The issue numbers of `repo` that `body` closes with a keyword (in order, no repeats)."""
    numbers: list[int] = []
    for match in CLOSING.finditer(body or ""):
        named = match.group("url_repo") or match.group("repo")
        number = int(match.group("number"))
        if (named is None or named.lower() == repo.lower()) and number not in numbers:
            numbers.append(number)
    return numbers


def is_test_path(path: str) -> bool:
    """Whether `path` looks like a test file (a tests/ folder, test_*.py, *.test.js, …)."""
    parts = PurePosixPath(path).parts
    return bool(parts) and (
        any(part.lower() in TEST_DIRS for part in parts[:-1]) or bool(TEST_NAMES.match(parts[-1]))
    )


def linked(pulls: Iterable[Mapping[str, Any]], repo: str) -> dict[int, Mapping[str, Any]]:
    """Issue number -> the merged pull request that closed it (the latest merge wins)."""
    found: dict[int, Mapping[str, Any]] = {}
    for pull in pulls:
        if not pull.get("merged_at") or not pull.get("merge_commit_sha"):
            continue  # closed without merging: it fixed nothing
        for number in closing_issues(pull.get("body"), repo):
            if number not in found or pull["merged_at"] > found[number]["merged_at"]:
                found[number] = pull
    return found


def choose(
    issues: Iterable[Mapping[str, Any]], fixed_by: Mapping[int, Mapping[str, Any]], last: int
) -> list[Fix]:
    """The `last` most recently closed issues (not pull requests) that a merged PR fixed."""
    fixes = [
        Fix(
            issue=issue["number"],
            title=issue["title"],
            body=issue.get("body") or "",
            labels=tuple(label["name"] for label in issue.get("labels") or ()),
            closed_at=issue["closed_at"],
            pull=fixed_by[issue["number"]]["number"],
            merge_commit_sha=fixed_by[issue["number"]]["merge_commit_sha"],
        )
        for issue in issues
        if issue["number"] in fixed_by
        and issue.get("state") == "closed"
        and issue.get("closed_at")
        and "pull_request" not in issue
    ]
    fixes.sort(key=lambda f: (f.closed_at, f.issue), reverse=True)
    return fixes[:last]


def changed_tests(files: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The test files a pull request added or changed (`GET .../pulls/{n}/files` entries)."""
    return tuple(
        f["filename"] for f in files if f.get("status") != "removed" and is_test_path(f["filename"])
    )


class _Token:
    """Authenticates every request with one installation token, minted once for the run."""

    def __init__(self, token: str) -> None:
        self._token = Credential(token)

    async def authorization(self) -> str:
        return f"token {self._token}"

    async def refused(self, authorization: str) -> None:
        """Nothing to renew: the run is short and the token lives an hour."""


async def read_history(settings: Settings, repo: str, last: int) -> History:
    """The `last` most recently closed issues of `repo` that a merged PR fixed, each with
    the test files its PR added or changed.

    Raises:
        HistoryError: the App is not installed on `repo` or cannot read it.
    """
    creds = AppCredentials.from_settings(settings)
    async with httpx2.AsyncClient(timeout=HTTP_TIMEOUT, verify=tls_context()) as session:
        app = GitHubClient(session, base_url=settings.github_api_url, auth=AppAuth(creds))
        try:
            token = await _installation_token(app, repo)
            gh = GitHubClient(session, base_url=settings.github_api_url, auth=_Token(token))
            clone_url = (await gh.getitem(f"/repos/{repo}"))["clone_url"]
            fixes = [
                _with_tests(fix, changed_tests([f async for f in gh.getiter(_files(repo, fix))]))
                for fix in await _fixes(gh, repo, last)
            ]
        except gidgethub.HTTPException as exc:
            raise HistoryError(
                f"cannot read {repo} as the App (GitHub answered {exc.status_code}): install "
                f"the App on {repo} with read access to contents, issues and pull requests"
            ) from None
    return History(repo, clone_url, token, fixes)


def _with_tests(fix: Fix, tests: tuple[str, ...]) -> Fix:
    return Fix(**{**fix.__dict__, "tests": tests})


def _files(repo: str, fix: Fix) -> str:
    return f"/repos/{repo}/pulls/{fix.pull}/files?per_page=100"


async def _installation_token(app: GitHubClient, repo: str) -> str:
    """A token of the App's installation on `repo`, for that repository and reading only."""
    installation = await app.getitem(f"/repos/{repo}/installation")
    minted = await app.post(
        "/app/installations/{installation_id}/access_tokens",
        {"installation_id": installation["id"]},
        data=TokenScope.of(repo, READ_ONLY).request(),
    )
    return Credential(minted["token"])


async def _fixes(gh: GitHubClient, repo: str, last: int) -> list[Fix]:
    """Walk closed pull requests newest first until `last` closed issues they fixed are found."""
    pulls: list[Mapping[str, Any]] = []
    chosen: list[Fix] = []
    issues: dict[int, Mapping[str, Any]] = {}
    for page in range(1, MAX_PULL_PAGES + 1):
        batch = await gh.getitem(
            f"/repos/{repo}/pulls?state=closed&sort=updated&direction=desc&per_page=100&page={page}"
        )
        pulls += batch
        fixed_by = linked(pulls, repo)
        for number in sorted(fixed_by.keys() - issues.keys()):
            try:
                issues[number] = await gh.getitem(f"/repos/{repo}/issues/{number}")
            except gidgethub.BadRequest as exc:
                if exc.status_code not in (404, 410):  # a typo'd number, a deleted issue
                    raise
                issues[number] = {"number": number}
        chosen = choose(issues.values(), fixed_by, last)
        if len(chosen) >= last or len(batch) < 100:
            break
    return chosen
