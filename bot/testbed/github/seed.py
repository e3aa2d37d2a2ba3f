"""Test-side seeding and inspection of the fake's repos, issues, git, pull requests and checks."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from bot.testbed.github import app_events
from bot.testbed.github.facade import Fake
from bot.testbed.github.git import BareRepo, GitCommit
from bot.testbed.github.routes.pulls import refresh
from bot.testbed.github.state import (
    ROLES,
    AppIdentity,
    CheckRun,
    Comment,
    Installation,
    Issue,
    Label,
    PullRequest,
    Repo,
    State,
    iso,
)


class Seeding:
    """FakeGitHub's methods for arranging a scene and looking at the result (a mixin)."""

    app: AppIdentity
    state: State
    lock: threading.RLock
    git_root: Path | None = None  # where the last create_git_repo() put its bare repository

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        private: bool = False,
        clone_url: str | None = None,
        description: str | None = None,
    ) -> Repo:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"repository must be 'owner/name', got {full_name!r}")
        with self.lock:
            if self.state.repo(full_name) is not None:
                raise ValueError(f"{full_name} already exists; use repo() to change it")
            self.state.user(owner, type="Organization")
            repo = Repo(
                id=self.state.next_id(),
                owner=owner,
                name=name,
                default_branch=default_branch,
                private=private,
                clone_url=clone_url,
                description=description,
            )
            self.state.repos[full_name.lower()] = repo
            return repo

    def repo(self, full_name: str) -> Repo:
        """The live state of a repository (mutate it under `lock`)."""
        with self.lock:
            repo = self.state.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name}; add_repo() it first")
        return repo

    def add_installation(
        self,
        installation_id: int,
        account: str = "octo-org",
        repos: Iterable[str] = (),
        *,
        permissions: dict[str, str] | None = None,
    ) -> Installation:
        """Install the App on `account` for `repos` (created when unknown)."""
        with self.lock:
            if installation_id in self.state.installations:
                raise ValueError(f"installation {installation_id} already exists")
            names = []
            for full_name in repos:
                repo = self.state.repo(full_name) or self.add_repo(full_name)
                names.append(repo.full_name)
            self.state.user(account, type="Organization")
            installation = Installation(
                id=installation_id,
                account=account,
                repos=names,
                permissions=dict(permissions or self.app.permissions),
                events=list(self.app.events),
            )
            self.state.installations[installation_id] = installation
            return installation

    def set_permission(self, full_name: str, login: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        with self.lock:
            self.state.user(login)
            self.repo(full_name).roles[login.lower()] = role

    def add_label(
        self, full_name: str, name: str, *, color: str = "ededed", description: str | None = None
    ) -> Label:
        with self.lock:
            repo = self.repo(full_name)
            label = Label(self.state.next_id(), name, color, description)
            repo.labels[name.lower()] = label
            return label

    def add_issue(
        self,
        full_name: str,
        title: str,
        body: str | None = None,
        *,
        user: str = "alice",
        labels: Iterable[str] = (),
        state: str = "open",
    ) -> Issue:
        """An issue opened by a person (not through the API, so nothing is recorded)."""
        with self.lock:
            repo = self.repo(full_name)
            self.state.user(user)
            issue = Issue(self.state.next_id(), repo.next_number, repo.full_name, title, user, body)
            issue.state = state
            repo.next_number += 1
            for name in labels:
                label = repo.labels.get(name.lower()) or self.add_label(full_name, name)
                issue.labels.append(label.name)
            repo.issues[issue.number] = issue
            return issue

    def add_comment(
        self, full_name: str, issue_number: int, body: str, *, user: str = "alice"
    ) -> Comment:
        with self.lock:
            repo = self.repo(full_name)
            if issue_number not in repo.issues:
                raise KeyError(f"{full_name} has no issue #{issue_number}")
            self.state.user(user)
            comment = Comment(self.state.next_id(), repo.full_name, issue_number, body, user)
            self.state.comments[comment.id] = comment
            return comment

    def comments(self, full_name: str, issue_number: int) -> list[Comment]:
        with self.lock:
            return [
                c
                for c in sorted(self.state.comments.values(), key=lambda c: c.id)
                if c.repo.lower() == full_name.lower() and c.issue_number == issue_number
            ]

    # -- git remotes -------------------------------------------------------------------------

    def attach_git(self, full_name: str, bare_path: Path) -> BareRepo:
        """Back `full_name` (added when unknown) with a bare repository: branches, contents, PRs.

        The repository's `clone_url` becomes the bare path's file:// URL unless one was set.
        """
        path = Path(bare_path).resolve()
        if not (path / "HEAD").is_file() or not (path / "objects").is_dir():
            raise ValueError(
                f"{path} is not a bare git repository; make one with create_git_repo() "
                "or `git init --bare`"
            )
        with self.lock:
            repo = self.state.repo(full_name) or self.add_repo(full_name)
            repo.git_dir = path
            repo.clone_url = repo.clone_url or path.as_uri()
        return BareRepo(path)

    def create_git_repo(
        self, full_name: str, root: Path, files: Mapping[str, str], *, branch: str = "main"
    ) -> Path:
        """Make `<root>/<owner>/<name>.git` (bare; one commit of `files` on `branch`), attach it.

        Point AIOS at it with GITHUB_GIT_URL=file://<root> (env() includes it from now on).
        `branch` becomes the default branch.
        """
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"repository must be 'owner/name', got {full_name!r}")
        path = Path(root) / owner / f"{name}.git"
        BareRepo.create(path, files, branch=branch)
        self.git_root = Path(root).resolve()
        with self.lock:
            repo = self.state.repo(full_name) or self.add_repo(full_name, default_branch=branch)
            repo.default_branch = branch
        self.attach_git(full_name, path)
        return path

    def git(self, full_name: str) -> BareRepo:
        """The bare repository behind `full_name` (KeyError when none is attached)."""
        git_dir = self.repo(full_name).git_dir
        if git_dir is None:
            raise KeyError(f"{full_name} has no git repository; create_git_repo() or attach_git()")
        return BareRepo(git_dir)

    def push_as(
        self,
        user: str,
        full_name: str,
        branch: str,
        files: Mapping[str, str | None],
        *,
        message: str | None = None,
        deliver_pr_event: bool = False,
    ) -> str:
        """`user` pushes one commit changing `files` (None deletes) to `branch`; its sha.

        A new branch starts at the default branch. With `deliver_pr_event`, each open pull
        request from `branch` gets `pull_request.synchronize` (`before`/`after` set), as
        GitHub sends it; no `push` event is sent.
        """
        sha, events = self._push(user, full_name, branch, files, message, deliver_pr_event)
        for payload in events:
            cast("Fake", self).deliver("pull_request", payload)
        return sha

    async def apush_as(
        self,
        user: str,
        full_name: str,
        branch: str,
        files: Mapping[str, str | None],
        *,
        message: str | None = None,
        deliver_pr_event: bool = False,
    ) -> str:
        """push_as() for async tests whose webhook receiver runs on the caller's loop."""
        sha, events = self._push(user, full_name, branch, files, message, deliver_pr_event)
        for payload in events:
            await cast("Fake", self).adeliver("pull_request", payload)
        return sha

    def _push(
        self,
        user: str,
        full_name: str,
        branch: str,
        files: Mapping[str, str | None],
        message: str | None,
        synchronize: bool,
    ) -> tuple[str, list[dict[str, Any]]]:
        git = self.git(full_name)
        repo = self.repo(full_name)
        before = git.branch_sha(branch)
        sha = git.commit_files(
            branch,
            files,
            message=message or f"Update {', '.join(sorted(files))}",
            author=(user, f"{user}@users.noreply.github.com"),
            parent=repo.default_branch,
        )
        with self.lock:
            repo.pushed_at = iso()
            if not synchronize or before is None:
                return sha, []
            fake = cast("Fake", self)
            return sha, [
                app_events.pull_request(
                    fake, full_name, pr.number, action="synchronize", sender=user, before=before
                )
                for pr in sorted(repo.pulls.values(), key=lambda p: p.number)
                if pr.state == "open" and pr.head == branch
            ]

    def branches(self, full_name: str) -> dict[str, str]:
        """Branch name -> commit sha, read from the bare repository now."""
        return self.git(full_name).branches()

    def commits(self, full_name: str, branch: str) -> list[GitCommit]:
        """(sha, message, "Name <email>") of the commits on `branch`, newest first."""
        return self.git(full_name).commits(f"refs/heads/{branch}")

    # -- pull requests and checks ------------------------------------------------------------

    def pulls(self, full_name: str) -> list[PullRequest]:
        """Every pull request of the repository by number, heads re-read from git."""
        with self.lock:
            repo = self.repo(full_name)
            for pr in repo.pulls.values():
                refresh(repo, pr)
            return sorted(repo.pulls.values(), key=lambda pr: pr.number)

    def open_pull_as(
        self, user: str, full_name: str, head: str, base: str, title: str, body: str = ""
    ) -> PullRequest:
        """`user` opens a pull request from branch `head` of the same repository (no webhook)."""
        git = self.git(full_name)
        with self.lock:
            repo = self.repo(full_name)
            head_sha, base_sha = git.branch_sha(head), git.branch_sha(base)
            if head_sha is None or base_sha is None:
                raise ValueError(f"{full_name} needs branches {head!r} and {base!r}")
            issue = Issue(
                id=self.state.next_id(),
                number=repo.next_number,
                repo=repo.full_name,
                title=title,
                user=self.state.user(user).login,
                body=body or None,
            )
            repo.next_number += 1
            repo.issues[issue.number] = issue
            pr = PullRequest(
                id=self.state.next_id(),
                issue=issue,
                head=head,
                base=base,
                head_sha=head_sha,
                base_sha=base_sha,
            )
            repo.pulls[pr.number] = pr
            return pr

    def check_runs(self, full_name: str) -> list[CheckRun]:
        """Every check run of the repository, oldest first."""
        with self.lock:
            return sorted(self.repo(full_name).check_runs.values(), key=lambda run: run.id)
