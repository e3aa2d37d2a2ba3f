"""What the fake knows about CI on a commit: check suites, latest runs, statuses, required checks.

The merge gate it models (GitHub's "require status checks to pass", from branch protection or
a ruleset's `required_status_checks` rule):
a required context passes when the latest check run of that name (any App) or the latest
commit status with that context on the pull request's head succeeded (`success`, `neutral`
or `skipped` for check runs). Anything else blocks the merge with 405, and the pull request
reports `mergeable_state: "blocked"` (while `mergeable` keeps meaning "no conflicts", as on
GitHub). A failing or pending check that is not required makes it `"unstable"`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from bot.testbed.github.git import BareRepo
from bot.testbed.github.state import CheckRun, CheckSuite, CommitStatus, Repo, State, iso

PASSING = frozenset({"success", "neutral", "skipped"})
LOG_LINK_TTL_S = 60.0
"""GitHub: the job-log download link "expires after 1 minute"."""
LOG_PATH = "/_apis/pipelines/1/jobs/{job_id}/signedlogcontent"
"""The shape of the Location GitHub's description gives for a job's log."""


@dataclass(frozen=True)
class BlobRequest:
    """One request the blob storage answered; `headers` never hold a credential."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; authorization is "<scheme> <redacted>"
    status: int


@dataclass
class JobLogStorage:
    """Where Actions job logs are downloaded from: another host, with signed, short-lived links.

    Like GitHub's log storage it is outside the REST API (neither described nor validated
    by it): a link carries its own signature and expiry, and needs no Authorization header.
    """

    origin: str  # http://127.0.0.1:<port>
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    requests: list[BlobRequest] = field(default_factory=list)

    def link(self, job_id: int, *, now: float | None = None) -> str:
        expires = iso((time.time() if now is None else now) + LOG_LINK_TTL_S)
        query = {
            "urlExpires": expires,
            "urlSigningMethod": "HMACV1",
            "urlSignature": self._sign(job_id, expires),
        }
        return f"{self.origin}{LOG_PATH.format(job_id=job_id)}?{urlencode(query)}"

    def refusal(self, job_id: int, query: Mapping[str, str], *, now: float | None = None) -> str:
        """Why a link for `job_id` is refused; "" when it is genuine and current."""
        expires = query.get("urlExpires", "")
        if not hmac.compare_digest(query.get("urlSignature", ""), self._sign(job_id, expires)):
            return "Signature mismatch."
        try:
            deadline = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return "Malformed urlExpires."
        if deadline.timestamp() < (time.time() if now is None else now):
            return "The signed URL has expired."
        return ""

    def _sign(self, job_id: int, expires: str) -> str:
        return hmac.new(self.key, f"{job_id}|{expires}".encode(), hashlib.sha256).hexdigest()


def suite_for(state: State, repo: Repo, sha: str, app_id: int | None) -> CheckSuite:
    """The App's check suite on `sha`, created on first use (as GitHub does on a push)."""
    for suite in repo.check_suites.values():
        if suite.head_sha == sha and suite.app_id == app_id:
            return suite
    branch = next((name for name, tip in _tips(repo).items() if tip == sha), None)
    suite = CheckSuite(state.next_id(), repo.full_name, sha, branch, app_id)
    repo.check_suites[suite.id] = suite
    return suite


def _tips(repo: Repo) -> dict[str, str]:
    return BareRepo(repo.git_dir).branches() if repo.git_dir is not None else {}


def latest_runs(repo: Repo, sha: str) -> list[CheckRun]:
    """The newest run of each name per App on `sha`, newest first (what `filter=latest` lists)."""
    seen: set[tuple[str, int | None]] = set()
    latest = []
    for run in sorted(repo.check_runs.values(), key=lambda r: r.id, reverse=True):
        if run.head_sha == sha and (run.name, run.app_id) not in seen:
            seen.add((run.name, run.app_id))
            latest.append(run)
    return latest


def suite_runs(repo: Repo, suite: CheckSuite) -> list[CheckRun]:
    return [run for run in repo.check_runs.values() if run.check_suite_id == suite.id]


def suite_status(repo: Repo, suite: CheckSuite) -> tuple[str, str | None]:
    """A suite's (status, conclusion), derived from its runs as GitHub derives them."""
    runs = suite_runs(repo, suite)
    if not runs or any(run.status != "completed" for run in runs):
        return ("queued" if not runs else "in_progress"), None
    conclusions = {run.conclusion for run in runs}
    for worst in (
        "action_required",
        "cancelled",
        "timed_out",
        "failure",
        "startup_failure",
        "stale",
    ):
        if worst in conclusions:
            return "completed", worst
    if conclusions <= {"skipped"}:
        return "completed", "skipped"
    return "completed", ("neutral" if conclusions <= {"neutral", "skipped"} else "success")


def latest_statuses(repo: Repo, sha: str) -> list[CommitStatus]:
    """The newest status of each context on `sha`, newest first (the combined status's list)."""
    seen: set[str] = set()
    latest = []
    for status in reversed(repo.statuses):
        if status.sha == sha and status.context not in seen:
            seen.add(status.context)
            latest.append(status)
    return latest


def combined_state(statuses: list[CommitStatus]) -> str:
    """GitHub's combined state: failure if any failed or errored, success if all succeeded."""
    states = {status.state for status in statuses}
    if states & {"failure", "error"}:
        return "failure"
    if not states or "pending" in states:
        return "pending"
    return "success"


def context_state(repo: Repo, sha: str, context: str) -> str:
    """`success`, `failure`, `pending` or `expected` (never reported) for a context on `sha`."""
    runs = [run for run in latest_runs(repo, sha) if run.name == context]
    statuses = [s for s in latest_statuses(repo, sha) if s.context == context]
    if not runs and not statuses:
        return "expected"
    verdicts = []
    for run in runs:
        if run.status != "completed":
            verdicts.append("pending")
        else:
            verdicts.append("success" if run.conclusion in PASSING else "failure")
    verdicts.extend("failure" if s.state == "error" else s.state for s in statuses)
    for verdict in ("failure", "pending"):
        if verdict in verdicts:
            return verdict
    return "success"


def required_failures(repo: Repo, branch: str, sha: str) -> list[tuple[str, str]]:
    """(context, state) of each check `branch` requires that has not succeeded on `sha`."""
    states = [(ctx, context_state(repo, sha, ctx)) for ctx in repo.required_contexts(branch)]
    return [(ctx, state) for ctx, state in states if state != "success"]


def merge_block_message(failures: list[tuple[str, str]], required: int) -> str:
    """The 405 message GitHub gives when required checks have not passed."""
    if len(failures) == 1:
        context, state = failures[0]
        word = {"expected": "expected", "pending": "in progress"}.get(state, "failing")
        return f'Required status check "{context}" is {word}.'
    if all(state == "expected" for _, state in failures):
        return f"{len(failures)} of {required} required status checks are expected."
    return f"{len(failures)} of {required} required status checks have not succeeded."


def checks_state(repo: Repo, branch: str, sha: str) -> str:
    """`blocked` (a required check is not green), `unstable` (another is not) or `clean`."""
    if required_failures(repo, branch, sha):
        return "blocked"
    contexts = {run.name for run in latest_runs(repo, sha)}
    contexts |= {status.context for status in latest_statuses(repo, sha)}
    if any(context_state(repo, sha, context) != "success" for context in contexts):
        return "unstable"
    return "clean"
