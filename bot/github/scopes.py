"""Least-privilege installation tokens: one repository and the permissions one job needs.

An installation token minted without `repositories` and `permissions` can do everything the
App may do on every repository of the installation. AIOS asks GitHub for less: each job's
token names the repository it works on and the permissions of its catalog entry
(`bot.runtime.catalog`), so a job for repository A holds nothing GitHub accepts on B.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

Permissions = Mapping[str, str]

LEVELS = {"read": 1, "write": 2}

TALK: Permissions = {"metadata": "read", "issues": "write"}
"""Permission checks, reactions, comments and labels on issues: the handlers' and replies'."""
FIND_PULLS: Permissions = {**TALK, "pull_requests": "read"}
"""As TALK, and find the pull request that fixes an issue."""
PROGRESS: Permissions = {**TALK, "checks": "write"}
"""As TALK, and keep the progress comment and the pull request's check run current."""
TRIAGE: Permissions = {**PROGRESS, "contents": "read"}
"""As PROGRESS, and read the code and `.github/aios.yml`."""
REVIEW: Permissions = {**TRIAGE, "pull_requests": "write"}
"""As TRIAGE, and open pull requests, review them, answer in their threads."""
CODE: Permissions = {**TRIAGE, "contents": "write"}
"""As TRIAGE, and push the work item's branch."""
FIX: Permissions = {**REVIEW, "contents": "write"}
"""As REVIEW, and push the work item's branch."""
STEER: Permissions = {**FIX, "statuses": "read", "actions": "read"}
"""What a person's action may lead to: read CI (checks, statuses, workflow logs), merge."""
CENTER: Permissions = {**TALK, "contents": "read"}
"""As TALK (the Control Center is an issue), and read `.github/aios.yml` and the default
branch's commits (reverts)."""
LEARN: Permissions = {**FIND_PULLS, "contents": "read"}
"""As FIND_PULLS, and read `.github/aios.yml`: a PR's commits, reviews and comments in."""


@dataclass(frozen=True)
class TokenScope:
    """The repository (`owner/name`) and the permissions a token is minted for."""

    repo: str
    permissions: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, repo: str, permissions: Permissions) -> TokenScope:
        for name, level in permissions.items():
            if level not in LEVELS:
                raise ValueError(f"permission {name} must be read or write, got {level!r}")
        return cls(repo, tuple(sorted(permissions.items())))

    def widened(self, extra: Permissions) -> TokenScope:
        """This scope with `extra` permissions too (e.g. `workflows: write` when allowed)."""
        merged = dict(self.permissions)
        for name, level in extra.items():
            if LEVELS[level] > LEVELS.get(merged.get(name, ""), 0):
                merged[name] = level
        return TokenScope.of(self.repo, merged)

    @property
    def repository_name(self) -> str:
        """The name GitHub's `repositories` field takes: without the owner."""
        return self.repo.split("/", 1)[1]

    def request(self) -> dict[str, object]:
        """The body of `POST /app/installations/{id}/access_tokens` for this scope."""
        return {"repositories": [self.repository_name], "permissions": dict(self.permissions)}

    @property
    def key(self) -> str:
        """A short, stable name for the scope: tokens are cached per scope."""
        text = self.repo.lower() + "|" + ",".join(f"{n}={lvl}" for n, lvl in self.permissions)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
