"""Render the fake's state as the JSON GitHub returns (the REST docs' field names and shapes)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.testbed.github.state import (
    LEGACY_PERMISSION,
    REACTIONS,
    ROLES,
    AppIdentity,
    Comment,
    HookDelivery,
    Installation,
    Issue,
    Label,
    Reaction,
    Repo,
    State,
    User,
)

# Repository URL fields: name -> suffix after the repository's API URL (GitHub's own templates).
REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def node_id(kind: str, ident: int) -> str:
    """GitHub's legacy global node id shape: base64 of '<len><Type><id>'."""
    raw = f"0{len(kind)}:{kind}{ident}".encode()
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Renderer:
    """Builds response bodies; `api` is the fake's API root (with any GHES prefix)."""

    state: State
    api: str
    html: str = "https://github.com"

    def user(self, login: str) -> dict[str, Any]:
        user = self.state.user(login)
        return self._account(user)

    def _account(self, user: User) -> dict[str, Any]:
        url = f"{self.api}/users/{quote(user.login)}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id(user.type, user.id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.html}/{quote(user.login)}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": user.site_admin,
        }

    def repo_url(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def repo(self, repo: Repo, *, full: bool = True) -> dict[str, Any]:
        url = self.repo_url(repo)
        html = f"{self.html}/{repo.full_name}"
        host = self.html.split("://", 1)[-1]
        open_issues = sum(1 for issue in repo.issues.values() if issue.state == "open")
        body: dict[str, Any] = {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.user(repo.owner),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "html_url": html,
            "description": repo.description,
            "fork": False,
            "url": url,
            **{name: url + suffix for name, suffix in REPO_URLS.items()},
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "clone_url": repo.clone_url or f"{html}.git",
            "svn_url": html,
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "size": 108,
            "default_branch": repo.default_branch,
            "open_issues": open_issues,
            "open_issues_count": open_issues,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "license": None,
            "pushed_at": repo.pushed_at,
            "created_at": repo.created_at,
            "updated_at": repo.pushed_at,
            "allow_forking": True,
            "web_commit_signoff_required": False,
        }
        if full:
            body.update(
                allow_squash_merge=True,
                allow_merge_commit=True,
                allow_rebase_merge=True,
                allow_auto_merge=False,
                delete_branch_on_merge=False,
                network_count=0,
                subscribers_count=0,
            )
        return body

    def label(self, repo: Repo, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": node_id("Label", label.id),
            "url": f"{self.repo_url(repo)}/labels/{quote(label.name, safe='')}",
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
        }

    def reactions_rollup(self, url: str, reactions: list[Reaction]) -> dict[str, Any]:
        counts = {content: 0 for content in REACTIONS}
        for reaction in reactions:
            counts[reaction.content] += 1
        return {"url": f"{url}/reactions", "total_count": len(reactions), **counts}

    def reaction(self, reaction: Reaction) -> dict[str, Any]:
        return {
            "id": reaction.id,
            "node_id": node_id("Reaction", reaction.id),
            "user": self.user(reaction.user),
            "content": reaction.content,
            "created_at": reaction.created_at,
        }

    def issue(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        url = f"{self.repo_url(repo)}/issues/{issue.number}"
        labels = [repo.labels[name.lower()] for name in issue.labels if name.lower() in repo.labels]
        kind = "pull" if issue.number in repo.pulls else "issues"
        body: dict[str, Any] = {
            "id": issue.id,
            "node_id": node_id("Issue", issue.id),
            "url": url,
            "repository_url": self.repo_url(repo),
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.html}/{repo.full_name}/{kind}/{issue.number}",
            "timeline_url": f"{url}/timeline",
            "number": issue.number,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": self.user(issue.user),
            "labels": [self.label(repo, label) for label in labels],
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(login) for login in issue.assignees],
            "milestone": None,
            "locked": issue.locked,
            "active_lock_reason": None,
            "comments": sum(1 for c in self.state.comments.values() if _on(c, repo, issue)),
            "closed_at": issue.closed_at,
            "closed_by": self.user(issue.closed_by) if issue.closed_by else None,
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "author_association": self.association(repo, issue.user),
            "performed_via_github_app": self.integration() if issue.via_app else None,
            "reactions": self.reactions_rollup(url, issue.reactions),
        }
        pr = repo.pulls.get(issue.number)
        if pr is not None:  # GitHub's issues API marks the issues that are pull requests
            html = f"{self.html}/{repo.full_name}/pull/{pr.number}"
            body["draft"] = pr.draft
            body["pull_request"] = {
                "url": f"{self.repo_url(repo)}/pulls/{pr.number}",
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": pr.merged_at,
            }
        return body

    def comment(self, repo: Repo, comment: Comment) -> dict[str, Any]:
        url = f"{self.repo_url(repo)}/issues/comments/{comment.id}"
        kind = "pull" if comment.issue_number in repo.pulls else "issues"
        html = f"{self.html}/{repo.full_name}/{kind}/{comment.issue_number}"
        return {
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "url": url,
            "html_url": f"{html}#issuecomment-{comment.id}",
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "issue_url": f"{self.repo_url(repo)}/issues/{comment.issue_number}",
            "author_association": self.association(repo, comment.user),
            "performed_via_github_app": self.integration() if comment.via_app else None,
            "reactions": self.reactions_rollup(url, comment.reactions),
        }

    def association(self, repo: Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        if repo.roles.get(login.lower(), "none") != "none":
            return "COLLABORATOR"
        return "NONE"

    def permission(self, login: str, role: str) -> dict[str, Any]:
        rank = ROLES.index(role)
        flags = {name: rank <= ROLES.index(name) for name in ROLES if name != "none"}
        return {
            "permission": LEGACY_PERMISSION.get(role, role),
            "role_name": role,
            "user": {
                **self.user(login),
                "permissions": {"pull": flags["read"], "triage": flags["triage"],
                                "push": flags["write"], "maintain": flags["maintain"],
                                "admin": flags["admin"]},
                "role_name": role,
            },
        }  # fmt: skip

    def integration(self) -> dict[str, Any]:
        app: AppIdentity = self.state.app
        return {
            "id": app.app_id,
            "slug": app.slug,
            "node_id": node_id("Integration", app.app_id),
            "client_id": app.client_id,
            "owner": self.user(app.owner),
            "name": app.name,
            "description": f"{app.name} (fake)",
            "external_url": "https://example.invalid/aios",
            "html_url": f"{self.html}/apps/{app.slug}",
            "created_at": app.created_at,
            "updated_at": app.created_at,
            "permissions": dict(app.permissions),
            "events": list(app.events),
            "installations_count": len(self.state.installations),
        }

    def installation(self, installation: Installation) -> dict[str, Any]:
        app = self.state.app
        account = self.state.user(installation.account)
        return {
            "id": installation.id,
            "account": self._account(account),
            "repository_selection": installation.repository_selection,
            "access_tokens_url": f"{self.api}/app/installations/{installation.id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.html}/organizations/{account.login}/settings/installations/"
            f"{installation.id}",
            "app_id": app.app_id,
            "client_id": app.client_id,
            "target_id": account.id,
            "target_type": account.type,
            "permissions": dict(installation.permissions),
            "events": list(installation.events),
            "created_at": installation.created_at,
            "updated_at": installation.created_at,
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "app_slug": app.slug,
            "suspended_by": None,
            "suspended_at": None,
        }

    def delivery(self, delivery: HookDelivery) -> dict[str, Any]:
        return {
            "id": delivery.id,
            "guid": delivery.guid,
            "delivered_at": delivery.delivered_at,
            "redelivery": delivery.redelivery,
            "duration": delivery.duration,
            "status": delivery.status,
            "status_code": delivery.status_code,
            "event": delivery.event,
            "action": delivery.action,
            "installation_id": delivery.installation_id,
            "repository_id": delivery.repository_id,
            "throttled_at": None,
        }


def _on(comment: Comment, repo: Repo, issue: Issue) -> bool:
    return comment.repo == repo.full_name and comment.issue_number == issue.number
