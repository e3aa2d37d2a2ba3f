"""Fake GitHub routes for pull requests, read from the bare repository the repo is attached to."""

from __future__ import annotations

import re
from typing import Any

from bot.testbed.github.ci import checks_state, merge_block_message, required_failures
from bot.testbed.github.git import BareRepo
from bot.testbed.github.rest_json import pulls as render_pulls
from bot.testbed.github.rest_json import reviews as render_reviews
from bot.testbed.github.rest_json.pulls import PullFacts
from bot.testbed.github.routes.toolkit import (
    Call,
    HTTPError,
    Reply,
    RouteTable,
    not_found,
    paginate,
)
from bot.testbed.github.state import Issue, PullRequest, Repo, iso

routes = RouteTable()

MAX_FILES = 3000  # GitHub lists at most this many files of a pull request
CLOSING = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+(?P<repo>[\w.-]+/[\w.-]+)?#(?P<number>\d+)\b",
    re.IGNORECASE,
)


def bare(repo: Repo) -> BareRepo | None:
    return BareRepo(repo.git_dir) if repo.git_dir is not None else None


def refresh(repo: Repo, pr: PullRequest) -> None:
    """Re-read the branch tips, so pushes since the last request show (deleted: kept as was)."""
    git = bare(repo)
    if git is None:
        return
    pr.head_sha = git.branch_sha(pr.head) or pr.head_sha
    if pr.merged_at is None:
        pr.base_sha = git.branch_sha(pr.base) or pr.base_sha


def facts(repo: Repo, pr: PullRequest) -> PullFacts:
    git = bare(repo)
    checks = checks_state(repo, pr.base, pr.head_sha) if pr.state == "open" else "clean"
    if git is None:
        return PullFacts(0, 0, 0, 0, mergeable=True, checks=checks)
    changes = git.changes(pr.base_sha, pr.head_sha)
    return PullFacts(
        commits=git.count_commits(pr.base_sha, pr.head_sha),
        additions=sum(c.additions for c in changes),
        deletions=sum(c.deletions for c in changes),
        changed_files=len(changes),
        mergeable=git.mergeable(pr.base_sha, pr.head_sha),
        checks=checks,
    )


def closing_references(repo: Repo, text: str | None) -> list[int]:
    """Issue numbers a closing keyword (`Fixes #12`, `closes octo-org/hello#3`) names here."""
    numbers = []
    for match in CLOSING.finditer(text or ""):
        named = match.group("repo")
        if named is None or named.lower() == repo.full_name.lower():
            numbers.append(int(match.group("number")))
    return numbers


def close_referenced_issues(repo: Repo, pr: PullRequest, login: str) -> None:
    """What GitHub does when a pull request merges into the default branch."""
    if pr.base != repo.default_branch:
        return
    for number in closing_references(repo, pr.body):
        issue = repo.issues.get(number)
        if issue is None or number in repo.pulls or issue.state != "open":
            continue  # a keyword naming a pull request closes nothing
        issue.state, issue.state_reason = "closed", "completed"
        issue.closed_at = issue.updated_at = pr.merged_at
        issue.closed_by = login


def full(call: Call, repo: Repo, pr: PullRequest) -> dict[str, Any]:
    refresh(repo, pr)
    return render_pulls.pull(call.render, repo, pr, facts(repo, pr))


def find_pull(call: Call) -> tuple[Repo, PullRequest]:
    """The repository and the pull request `pull_number` names; 404 when there is none."""
    repo = call.repo()
    pr = repo.pulls.get(int(call.params["pull_number"]))
    if pr is None:
        raise not_found()
    return repo, pr


def _invalid(field_name: str) -> HTTPError:
    error = {"resource": "PullRequest", "field": field_name, "code": "invalid"}
    return HTTPError(422, "Validation Failed", errors=[error])


def _custom(message: str) -> HTTPError:
    error = {"resource": "PullRequest", "code": "custom", "message": message}
    return HTTPError(422, "Validation Failed", errors=[error])


def _head_branch(repo: Repo, head: str) -> str | None:
    """The branch of `head` (`branch` or `owner:branch`); None for another owner (a fork)."""
    owner, sep, branch = head.rpartition(":")
    if sep and owner.lower() != repo.owner.lower():
        return None
    return branch


def _open_duplicate(repo: Repo, head: str, base: str, *, besides: int = 0) -> PullRequest | None:
    for pr in repo.pulls.values():
        if pr.number != besides and pr.state == "open" and (pr.head, pr.base) == (head, base):
            return pr
    return None


@routes.op("pulls/create")
def create_pull(call: Call) -> Reply:
    repo = call.repo()
    if call.field("issue") is not None or call.field("head_repo") is not None:
        raise call.unsupported("pulls/create from an issue or a fork (`issue`, `head_repo`)")
    title = call.field("title")
    if not title:
        error = {"resource": "PullRequest", "code": "missing_field", "field": "title"}
        raise HTTPError(422, "Validation Failed", errors=[error])
    git = bare(repo)
    base = str(call.field("base"))
    base_sha = git.branch_sha(base) if git else None
    if base_sha is None:
        raise _invalid("base")
    head = _head_branch(repo, str(call.field("head")))
    head_sha = git.branch_sha(head) if git and head else None
    if head is None or head_sha is None:
        raise _invalid("head")
    if _open_duplicate(repo, head, base) is not None:
        raise _custom(f"A pull request already exists for {repo.owner}:{head}.")
    if git is not None and git.count_commits(base_sha, head_sha) == 0:
        raise _custom(f"No commits between {base} and {head}")
    issue = Issue(
        id=call.state.next_id(),
        number=repo.next_number,
        repo=repo.full_name,
        title=str(title),
        user=call.actor or "ghost",
        body=call.field("body"),
        via_app=call.installation is not None,
    )
    repo.next_number += 1
    repo.issues[issue.number] = issue
    pr = PullRequest(
        id=call.state.next_id(),
        issue=issue,
        head=head,
        base=base,
        head_sha=head_sha,
        base_sha=base_sha,
        draft=bool(call.field("draft", False)),
        maintainer_can_modify=bool(call.field("maintainer_can_modify", False)),
    )
    repo.pulls[pr.number] = pr
    body = full(call, repo, pr)
    return Reply(201, body, {"Location": body["url"]})


@routes.op("pulls/list")
def list_pulls(call: Call) -> Reply:
    repo = call.repo()
    state = call.query.get("state", "open")
    base = call.query.get("base")
    head = call.query.get("head", "")
    # GitHub silently ignores a `head` without the `owner:` part (a well-known trap).
    wanted_head = _head_branch(repo, head) if ":" in head else ""
    pulls = []
    for pr in repo.pulls.values():
        refresh(repo, pr)
        if state != "all" and pr.state != state:
            continue
        if base is not None and pr.base != base:
            continue
        if wanted_head != "" and pr.head != wanted_head:
            continue
        pulls.append(pr)
    sort = call.query.get("sort", "created")
    key = "updated_at" if sort == "updated" else "created_at"
    descending = call.query.get("direction", "desc" if sort == "created" else "asc") == "desc"
    pulls.sort(key=lambda pr: (getattr(pr.issue, key), pr.number), reverse=descending)
    return paginate(call, [render_pulls.pull(call.render, repo, pr) for pr in pulls])


@routes.op("pulls/get")
def get_pull(call: Call) -> Reply:
    repo, pr = find_pull(call)
    return Reply(200, full(call, repo, pr))


@routes.op("pulls/update")
def update_pull(call: Call) -> Reply:
    repo, pr = find_pull(call)
    fields = call.body or {}
    issue = pr.issue
    if "base" in fields:
        git = bare(repo)
        base_sha = git.branch_sha(str(fields["base"])) if git else None
        if base_sha is None:
            raise _invalid("base")
        pr.base, pr.base_sha = str(fields["base"]), base_sha
    if fields.get("title") is not None:
        issue.title = str(fields["title"])
    if "body" in fields:
        issue.body = fields["body"]
    if "maintainer_can_modify" in fields:
        pr.maintainer_can_modify = bool(fields["maintainer_can_modify"])
    new_state = fields.get("state")
    if new_state == "closed" and issue.state == "open":
        issue.state, issue.closed_at, issue.closed_by = "closed", iso(), call.actor
    elif new_state == "open" and issue.state == "closed":
        if pr.merged_at is not None:
            raise HTTPError(422, "Cannot reopen a merged pull request")
        if _open_duplicate(repo, pr.head, pr.base, besides=pr.number) is not None:
            raise _custom(f"A pull request already exists for {repo.owner}:{pr.head}.")
        issue.state, issue.closed_at, issue.closed_by = "open", None, None
    issue.updated_at = iso()
    return Reply(200, full(call, repo, pr))


@routes.op("pulls/request-reviewers")
def request_reviewers(call: Call) -> Reply:
    repo, pr = find_pull(call)
    if call.field("team_reviewers"):
        raise call.unsupported("team review requests (`team_reviewers`)")
    reviewers = [str(login) for login in call.field("reviewers") or []]
    for login in reviewers:
        if login.lower() == pr.user.lower():
            raise HTTPError(422, "Review cannot be requested from pull request author.")
        is_owner = login.lower() == repo.owner.lower()
        if not is_owner and repo.roles.get(login.lower(), "none") == "none":
            raise HTTPError(
                422,
                "Reviews may only be requested from collaborators. One or more of the users or "
                f"teams you specified is not a collaborator of the {repo.full_name} repository.",
            )
    present = {login.lower() for login in pr.requested_reviewers}
    for login in reviewers:
        if login.lower() not in present:
            pr.requested_reviewers.append(call.state.user(login).login)
            present.add(login.lower())
    pr.issue.updated_at = iso()
    refresh(repo, pr)
    return Reply(201, render_pulls.pull(call.render, repo, pr))


@routes.op("pulls/list-files")
def list_files(call: Call) -> Reply:
    repo, pr = find_pull(call)
    refresh(repo, pr)
    git = bare(repo)
    if git is None:
        return paginate(call, [])
    entries = []
    for change in git.changes(pr.base_sha, pr.head_sha)[:MAX_FILES]:
        entry = None if change.status == "removed" else git.entry(pr.head_sha, change.filename)
        blob = entry.sha if entry is not None else None
        entries.append(render_pulls.diff_entry(call.render, repo, pr.head_sha, change, blob))
    return paginate(call, entries)


@routes.op("pulls/list-commits")
def list_commits(call: Call) -> Reply:
    """The pull request's commits, oldest first, as GitHub lists them (at most 250)."""
    repo, pr = find_pull(call)
    refresh(repo, pr)
    git = bare(repo)
    if git is None:
        return paginate(call, [])
    shas = list(reversed(git.log(f"{pr.base_sha}..{pr.head_sha}", limit=250)))
    infos = [info for sha in shas if (info := git.commit_info(sha)) is not None]
    return paginate(call, [render_reviews.commit(call.render, repo, info) for info in infos])


@routes.op("pulls/merge")
def merge_pull(call: Call) -> Reply:
    repo, pr = find_pull(call)
    refresh(repo, pr)
    git = bare(repo)
    method = call.field("merge_method", "merge")
    if method == "rebase":
        raise call.unsupported("pulls/merge with merge_method=rebase")
    if pr.state != "open" or git is None:
        raise HTTPError(405, "Pull Request is not mergeable")
    if pr.draft:
        raise HTTPError(405, "Pull Request is still a draft")
    expected = call.field("sha")
    if expected is not None and expected != pr.head_sha:
        raise HTTPError(409, "Head branch was modified. Review and try the merge again.")
    failing = required_failures(repo, pr.base, pr.head_sha)
    if failing:
        required = len(repo.required_contexts(pr.base))
        raise HTTPError(405, merge_block_message(failing, required))
    if method == "squash":
        title = call.field("commit_title") or f"{pr.title} (#{pr.number})"
        ahead = git.commits(pr.head_sha)[: git.count_commits(pr.base_sha, pr.head_sha)]
        detail = "\n".join(f"* {c.message}" for c in reversed(ahead))
    else:
        title = call.field("commit_title") or (
            f"Merge pull request #{pr.number} from {repo.owner}/{pr.head}"
        )
        detail = pr.title
    message = f"{title}\n\n{call.field('commit_message', detail)}".rstrip("\n")
    login = call.actor or "ghost"
    author = (login, f"{call.state.user(login).id}+{login}@users.noreply.github.com")
    sha = git.merge(pr.base_sha, pr.head_sha, squash=method == "squash", message=message,
                    author=author)  # fmt: skip
    if sha is None:
        raise HTTPError(405, "Pull Request is not mergeable")
    git.move_branch(pr.base, sha, pr.base_sha)
    now = iso()
    pr.merged_at, pr.merged_by, pr.merge_commit_sha = now, login, sha
    pr.issue.state, pr.issue.closed_at, pr.issue.closed_by = "closed", now, login
    pr.issue.updated_at = now
    close_referenced_issues(repo, pr, login)
    return Reply(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})
