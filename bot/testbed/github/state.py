"""In-memory state of the fake GitHub: plain dataclasses that routes read and tests seed."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol


class LogLinks(Protocol):
    """Where a job's log is downloaded from (`ci.JobLogStorage`, which builds on this module)."""

    def link(self, job_id: int, *, now: float | None = None) -> str: ...


ROLES = ("admin", "maintain", "write", "triage", "read", "none")
# The collaborator-permission endpoint reports legacy base roles (documented mapping).
LEGACY_PERMISSION = {"maintain": "write", "triage": "read"}
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


def iso(epoch: float | None = None) -> str:
    """GitHub's timestamp format: ISO 8601 in UTC with a Z, whole seconds."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # User | Bot | Organization
    site_admin: bool = False


@dataclass
class AppIdentity:
    """The GitHub App the fake knows: its key pair, secrets and public description."""

    app_id: int
    slug: str
    name: str
    owner: str
    private_key_pem: str
    public_key_pem: str
    webhook_secret: str
    client_id: str
    client_secret: str
    permissions: dict[str, str]
    events: list[str]
    created_at: str = field(default_factory=iso)

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Installation:
    id: int
    account: str
    repos: list[str]  # full names, as added
    permissions: dict[str, str]
    events: list[str]
    repository_selection: str = "selected"
    created_at: str = field(default_factory=iso)


@dataclass
class Token:
    token: str
    installation_id: int
    expires_at: float
    repos: list[str] | None = None  # restricted by the token request, else the installation's
    permissions: dict[str, str] | None = None
    revoked: bool = False


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class Reaction:
    id: int
    user: str
    content: str
    created_at: str = field(default_factory=iso)


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    body: str
    user: str
    via_app: bool = False
    created_at: str = field(default_factory=iso)
    updated_at: str = field(default_factory=iso)
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Issue:
    id: int
    number: int
    repo: str
    title: str
    user: str
    body: str | None = None
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)  # names, in the order they were added
    assignees: list[str] = field(default_factory=list)
    locked: bool = False
    pinned: bool = False
    via_app: bool = False
    created_at: str = field(default_factory=iso)
    updated_at: str = field(default_factory=iso)
    closed_at: str | None = None
    closed_by: str | None = None
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class PullRequest:
    """A pull request; its title, body, state, labels and comments live on its `issue`."""

    id: int
    issue: Issue  # GitHub numbers issues and pull requests from one sequence per repository
    head: str  # branch names in the same repository (the fake has no forks)
    base: str
    head_sha: str  # as last read from the bare repository (kept when the branch is deleted)
    base_sha: str
    draft: bool = False
    maintainer_can_modify: bool = False
    requested_reviewers: list[str] = field(default_factory=list)
    merged_at: str | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None

    @property
    def number(self) -> int:
        return self.issue.number

    @property
    def repo(self) -> str:
        return self.issue.repo

    @property
    def title(self) -> str:
        return self.issue.title

    @property
    def body(self) -> str | None:
        return self.issue.body

    @property
    def state(self) -> str:
        return self.issue.state

    @property
    def user(self) -> str:
        return self.issue.user

    @property
    def labels(self) -> list[str]:
        return self.issue.labels


@dataclass
class CheckRun:
    id: int
    repo: str
    name: str
    head_sha: str
    check_suite_id: int
    app_id: int | None  # the App that created it
    status: str = "queued"
    conclusion: str | None = None
    started_at: str | None = field(default_factory=iso)
    completed_at: str | None = None
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    annotations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    external_id: str = ""
    details_url: str | None = None
    log: str | None = None  # a GitHub Actions job's log (the run's id is the job's id)
    log_storage: LogLinks | None = None  # the blob storage that serves `log`


@dataclass
class CheckSuite:
    """The suite holding one App's check runs on one commit (GitHub makes one per App per push)."""

    id: int
    repo: str
    head_sha: str
    head_branch: str | None
    app_id: int | None
    created_at: str = field(default_factory=iso)
    updated_at: str = field(default_factory=iso)


@dataclass(frozen=True)
class OtherApp:
    """Another GitHub App on the repository (GitHub Actions, a CI service): owns its check runs."""

    app_id: int
    slug: str
    name: str
    owner: str


# GitHub Actions' real App id and slug: CI results in the fake come from it by default.
GITHUB_ACTIONS = OtherApp(15368, "github-actions", "GitHub Actions", "github")


@dataclass
class CommitStatus:
    """A commit status (the older status API), set by the test with FakeGitHub.set_status()."""

    id: int
    repo: str
    sha: str
    context: str
    state: str  # error | failure | pending | success
    creator: str
    description: str | None = None
    target_url: str | None = None
    created_at: str = field(default_factory=iso)
    updated_at: str = field(default_factory=iso)


@dataclass
class Review:
    """A pull request review; `state` is the REST spelling (APPROVED, CHANGES_REQUESTED…)."""

    id: int
    repo: str
    number: int
    user: str
    state: str  # PENDING | APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED
    body: str
    commit_id: str
    submitted_at: str | None = None


@dataclass
class ReviewComment:
    """An inline comment on a pull request's diff, anchored as it was written (`original_*`)."""

    id: int
    repo: str
    number: int
    review_id: int
    thread_id: int
    user: str
    body: str
    path: str
    side: str  # LEFT | RIGHT
    original_line: int
    original_position: int
    original_commit_id: str
    diff_hunk: str
    original_start_line: int | None = None
    start_side: str | None = None
    in_reply_to_id: int | None = None  # the thread's first comment, for replies
    created_at: str = field(default_factory=iso)
    updated_at: str = field(default_factory=iso)


@dataclass
class ReviewThread:
    """The conversation a top-level review comment starts; resolved through GraphQL."""

    id: int
    repo: str
    number: int
    root_id: int  # its first comment
    resolved_by: str | None = None

    @property
    def resolved(self) -> bool:
        return self.resolved_by is not None


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    default_branch: str = "main"
    private: bool = False
    description: str | None = None
    clone_url: str | None = None  # None: derived from the html base; tests may point at a bare repo
    labels: dict[str, Label] = field(default_factory=dict)  # key: name.lower()
    issues: dict[int, Issue] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # login.lower() -> role
    pulls: dict[int, PullRequest] = field(default_factory=dict)  # by number
    check_runs: dict[int, CheckRun] = field(default_factory=dict)  # by id
    check_suites: dict[int, CheckSuite] = field(default_factory=dict)  # by id
    statuses: list[CommitStatus] = field(default_factory=list)  # oldest first
    required_checks: dict[str, list[str]] = field(default_factory=dict)  # branch -> contexts
    ruleset_checks: dict[str, list[str]] = field(default_factory=dict)  # same, from a ruleset

    def required_contexts(self, branch: str) -> list[str]:
        """What merging into `branch` needs green: branch protection's and rulesets' checks."""
        both = [*self.required_checks.get(branch, []), *self.ruleset_checks.get(branch, [])]
        return list(dict.fromkeys(both))

    reviews: dict[int, Review] = field(default_factory=dict)  # by id
    review_comments: dict[int, ReviewComment] = field(default_factory=dict)  # by id
    threads: dict[int, ReviewThread] = field(default_factory=dict)  # by id
    git_dir: Path | None = None  # the bare repository behind it, once attached
    created_at: str = field(default_factory=iso)
    pushed_at: str = field(default_factory=iso)
    next_number: int = 1  # shared by issues and pull requests, as on GitHub

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class HookDelivery:
    id: int
    guid: str
    event: str
    action: str | None
    status_code: int
    status: str
    installation_id: int | None
    repository_id: int | None
    redelivery: bool = False
    duration: float = 0.27
    delivered_at: str = field(default_factory=iso)
    payload: dict[str, Any] | None = None  # kept so a redelivery can send it again


@dataclass
class HookConfig:
    """The App's webhook configuration (`GET /app/hook/config`), as its settings page sets it."""

    url: str | None = None  # None: wherever FakeGitHub.webhook_url points deliveries
    content_type: str = "json"  # json | form
    secret_set: bool = True  # GitHub never returns the secret, only "********" when set
    insecure_ssl: str = "0"  # "1": TLS certificates of `url` are not verified


@dataclass
class State:
    """Everything the fake knows; guarded by FakeGitHub's lock."""

    app: AppIdentity
    users: dict[str, User] = field(default_factory=dict)  # key: login.lower()
    installations: dict[int, Installation] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)  # key: full_name.lower()
    tokens: dict[str, Token] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    deliveries: list[HookDelivery] = field(default_factory=list)
    hook_config: HookConfig = field(default_factory=HookConfig)
    manifest_codes: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    redelivery_requests: list[int] = field(default_factory=list)
    other_apps: dict[int, OtherApp] = field(
        default_factory=lambda: {GITHUB_ACTIONS.app_id: GITHUB_ACTIONS}
    )
    tokens_issued: int = 0
    token_ttl: float = 3600.0
    # Collaborator-permission answer for users without a role: "auto" (read on public repos,
    # none on private ones, as GitHub reports), a fixed role, or None for a 404.
    non_collaborator_permission: str | None = "auto"
    # One counter for every object id, so ids of different kinds never coincide by accident.
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))

    def next_id(self) -> int:
        return next(self._ids)

    def user(self, login: str, *, type: str = "User") -> User:
        """The user with this login, created on first sight (GitHub has plenty of users)."""
        key = login.lower()
        if key not in self.users:
            kind = "Bot" if login.endswith("[bot]") else type
            self.users[key] = User(login=login, id=self.next_id(), type=kind)
        return self.users[key]

    def repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name.lower())

    def installation_for(self, full_name: str) -> Installation | None:
        for installation in self.installations.values():
            if any(name.lower() == full_name.lower() for name in installation.repos):
                return installation
        return None
