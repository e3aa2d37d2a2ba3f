"""What a token must hold for each operation the fake serves, as GitHub's docs list it.

GitHub's REST description does not say which App permission an operation needs; the
"Permissions required for GitHub Apps" pages do. This table copies them for every operation
the fake implements (a test checks none is missing). A scoped token without the permission
gets GitHub's 403 "Resource not accessible by integration".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LEVELS = {"read": 1, "write": 2}
NOT_ACCESSIBLE = "Resource not accessible by integration"

# Each entry: permissions any one of which suffices, at the level given. Issues endpoints
# on a pull request's number accept `pull_requests` as well as `issues`, as on GitHub.
_ISSUES_READ = (("issues", "read"), ("pull_requests", "read"))
_ISSUES_WRITE = (("issues", "write"), ("pull_requests", "write"))

REQUIRED: Mapping[str, tuple[tuple[str, str], ...]] = {
    "actions/download-job-logs-for-workflow-run": (("actions", "read"),),
    "apps/list-repos-accessible-to-installation": (("metadata", "read"),),
    "checks/create": (("checks", "write"),),
    "checks/update": (("checks", "write"),),
    "checks/get": (("checks", "read"),),
    "checks/list-annotations": (("checks", "read"),),
    "checks/list-for-ref": (("checks", "read"),),
    "checks/list-suites-for-ref": (("checks", "read"),),
    "git/delete-ref": (("contents", "write"),),
    "issues/add-labels": _ISSUES_WRITE,
    "issues/create": (("issues", "write"),),
    "issues/create-comment": _ISSUES_WRITE,
    "issues/create-label": _ISSUES_WRITE,
    "issues/delete-comment": _ISSUES_WRITE,
    "issues/delete-label": _ISSUES_WRITE,
    "issues/get": _ISSUES_READ,
    "issues/get-comment": _ISSUES_READ,
    "issues/get-label": _ISSUES_READ,
    "issues/list-comments": _ISSUES_READ,
    "issues/list-for-repo": _ISSUES_READ,
    "issues/list-labels-for-repo": _ISSUES_READ,
    "issues/list-labels-on-issue": _ISSUES_READ,
    "issues/remove-label": _ISSUES_WRITE,
    "issues/set-labels": _ISSUES_WRITE,
    "issues/update": _ISSUES_WRITE,
    "issues/update-comment": _ISSUES_WRITE,
    "issues/update-label": _ISSUES_WRITE,
    "pulls/create": (("pull_requests", "write"),),
    "pulls/create-reply-for-review-comment": (("pull_requests", "write"),),
    "pulls/create-review": (("pull_requests", "write"),),
    "pulls/create-review-comment": (("pull_requests", "write"),),
    "pulls/get": (("pull_requests", "read"),),
    "pulls/get-review": (("pull_requests", "read"),),
    "pulls/get-review-comment": (("pull_requests", "read"),),
    "pulls/list": (("pull_requests", "read"),),
    "pulls/list-commits": (("pull_requests", "read"),),
    "pulls/list-files": (("pull_requests", "read"),),
    "pulls/list-review-comments": (("pull_requests", "read"),),
    "pulls/list-reviews": (("pull_requests", "read"),),
    "pulls/merge": (("contents", "write"),),
    "pulls/request-reviewers": (("pull_requests", "write"),),
    "pulls/submit-review": (("pull_requests", "write"),),
    "pulls/update": (("pull_requests", "write"),),
    "reactions/create-for-issue": _ISSUES_WRITE,
    "reactions/create-for-issue-comment": _ISSUES_WRITE,
    "reactions/list-for-issue": _ISSUES_READ,
    "reactions/list-for-issue-comment": _ISSUES_READ,
    "repos/get": (("metadata", "read"),),
    "repos/get-branch": (("contents", "read"),),
    "repos/get-branch-rules": (("metadata", "read"),),
    "repos/get-collaborator-permission-level": (("metadata", "read"),),
    "repos/get-combined-status-for-ref": (("statuses", "read"),),
    "repos/get-content": (("contents", "read"),),
    "repos/list-commits": (("contents", "read"),),
    "repos/list-commit-statuses-for-ref": (("statuses", "read"),),
}
GRAPHQL_QUERY = (("pull_requests", "read"),)
GRAPHQL_MUTATION = (("pull_requests", "write"),)
GRAPHQL_MUTATIONS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "pinIssue": (("issues", "write"),),
}
"""Mutations on something else than pull requests, and what they need instead."""
_MUTATION_ROOT = re.compile(r"mutation\b[^{]*\{\s*(?:\w+\s*:\s*)?(\w+)")


def graphql_needs(query: str) -> tuple[tuple[str, str], ...]:
    """What a token must hold for a GraphQL request (queries read pull requests)."""
    if not query.lstrip().startswith("mutation"):
        return GRAPHQL_QUERY
    root = _MUTATION_ROOT.match(query.lstrip())
    return GRAPHQL_MUTATIONS.get(root[1] if root else "", GRAPHQL_MUTATION)


def allows(granted: Mapping[str, str] | None, needed: tuple[tuple[str, str], ...]) -> bool:
    """Whether a token's permissions (None: the installation's, unrestricted) cover `needed`."""
    if granted is None:
        return True
    with_metadata = {"metadata": "read", **granted}  # every token may read metadata
    return any(
        LEVELS.get(with_metadata.get(name, ""), 0) >= LEVELS[level] for name, level in needed
    )


def exceeding(requested: Mapping[str, str], installed: Mapping[str, str]) -> list[str]:
    """The requested permissions the installation was not granted (GitHub answers 422)."""
    return sorted(
        name
        for name, level in requested.items()
        if LEVELS.get(installed.get(name, ""), 0) < LEVELS.get(level, 3)
    )
