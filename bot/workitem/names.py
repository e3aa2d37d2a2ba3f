"""Every name AIOS writes on GitHub and finds again: labels, branch names, hidden markers.

AIOS finds its own comments, reviews and pull requests by these markers (`<!-- aios:… -->`
opening a body), so their bytes must never change: a marker written by an older release is
still found by this one. Only a marker opening a body counts, and only in something a bot
wrote: anyone can paste a marker into their own comment.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# -- labels -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelSpec:
    name: str
    color: str
    description: str
    role: str


LABELS: tuple[LabelSpec, ...] = (
    LabelSpec("aios", "5319e7", "AIOS: the CTO agent triages and plans this issue", "cto"),
    LabelSpec("aios:cto", "5319e7", "AIOS: the CTO agent plans this issue", "cto"),
    LabelSpec("aios:backend", "1d76db", "AIOS: the Backend agent takes this issue", "backend"),
    LabelSpec("aios:frontend", "0e8a16", "AIOS: the Frontend agent takes this issue", "frontend"),
    LabelSpec("aios:devops", "fbca04", "AIOS: the DevOps agent takes this issue", "devops"),
    LabelSpec("aios:qa", "d93f0b", "AIOS: the QA agent reviews this", "qa"),
)
"""The labels AIOS creates on each repository, and which agent role each one asks for."""

_LABELS_BY_NAME = {label.name.lower(): label for label in LABELS}


def role_for_label(name: str) -> str | None:
    """The agent role a label asks for, or None when it is not an AIOS label.

    GitHub label names are case-insensitive, so `AIOS:Backend` counts.
    """
    label = _LABELS_BY_NAME.get(name.strip().lower())
    return None if label is None else label.role


# -- branches ---------------------------------------------------------------------------------

BRANCH_PREFIX = "aios/"
"""AIOS pushes only to branches under this prefix, and only to ones it created."""

SLUG_MAX_CHARS = 40
"""Longest slug in a branch name; keeps `aios/<n>-<slug>` readable in GitHub's UI."""

_AGENT_BRANCH = re.compile(r"^aios/(?P<issue>\d+)-")
_TRANSLITERATE = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l"})


def slugify(title: str, max_chars: int = SLUG_MAX_CHARS) -> str:
    """Lowercase ASCII words joined by hyphens, at most `max_chars`, never empty."""
    ascii_title = (
        unicodedata.normalize("NFKD", title.lower().translate(_TRANSLITERATE))
        .encode("ascii", "ignore")
        .decode()
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")
    if len(slug) > max_chars:
        cut = slug[: max_chars + 1]
        # End on a whole word when one ends in the second half of the budget.
        slug = cut[: cut.rfind("-")] if cut.rfind("-") > max_chars // 2 else slug[:max_chars]
        slug = slug.rstrip("-")
    return slug or "issue"


def branch_name(issue_number: int, title: str) -> str:
    """`aios/<n>-<slug>`, a valid branch name (`git check-ref-format --branch`)."""
    if isinstance(issue_number, bool) or not isinstance(issue_number, int) or issue_number < 1:
        raise ValueError(f"issue_number must be a positive integer, got {issue_number!r}")
    return f"{BRANCH_PREFIX}{issue_number}-{slugify(title)}"


def issue_of_branch(branch: str) -> int | None:
    """The issue number an agent branch `aios/<n>-…` was cut for; None for other branches."""
    match = _AGENT_BRANCH.match(branch)
    return None if match is None else int(match["issue"])


# -- hidden markers ---------------------------------------------------------------------------

_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_SHA = re.compile(r"[0-9a-f]{7,64}")
_ITEM_MARKER = re.compile(
    r"<!-- aios:(?P<kind>[a-z-]+) "
    r"item=(?P<repo>[A-Za-z0-9-]+/[A-Za-z0-9._-]+)#(?P<number>[1-9][0-9]*) -->"
)


def _item(kind: str, repo: str, number: int) -> str:
    if not _REPO.fullmatch(repo):
        raise ValueError(f"repo must be 'owner/name', got {repo!r}")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"number must be a positive integer, got {number!r}")
    return f"<!-- aios:{kind} item={repo}#{number} -->"


def _key(key: str) -> tuple[str, int]:
    repo, _, number = key.rpartition("#")
    return repo, int(number)


def progress_marker(repo: str, number: int) -> str:
    """The hidden first line of the progress comment of work item `repo#number`."""
    return _item("progress", repo, number)


def comment_marker(kind: str, repo: str, number: int) -> str:
    """The hidden first line of the plan (`kind="plan"`) or questions comment of `repo#number`."""
    if kind not in ("plan", "questions"):
        raise ValueError(f"kind must be 'plan' or 'questions', got {kind!r}")
    return _item(kind, repo, number)


def pull_request_marker(item_key: str) -> str:
    """The hidden first line of the body of the agents' pull request for `owner/repo#n`."""
    return _item("pr", *_key(item_key))


def needs_human_marker(item_key: str) -> str:
    """The comment on the agents' pull request that says why the agents stopped."""
    return _item("needs-human", *_key(item_key))


def merge_blocked_marker(item_key: str) -> str:
    """The comment on the agents' pull request that says what blocks its merge."""
    return _item("merge-blocked", *_key(item_key))


def budget_marker(item_key: str) -> str:
    """The comment on an issue that asks for more budget for its work item."""
    return _item("budget", *_key(item_key))


def config_problems_marker(repo: str, number: int) -> str:
    """The comment on an issue that lists what is wrong with `.github/aios.yml`."""
    return _item("config-problems", repo, number)


def reply_marker(comment_id: int, line: int) -> str:
    """The answer to a command: line 0 is the comment as a whole (a refusal), n its line n."""
    return f"<!-- aios:reply comment={comment_id} line={line} -->"


def qa_review_marker(pr_number: int, commit_id: str) -> str:
    """The hidden first line of AIOS's QA review of pull request `pr_number` at `commit_id`."""
    if isinstance(pr_number, bool) or not isinstance(pr_number, int) or pr_number < 1:
        raise ValueError(f"pr_number must be a positive integer, got {pr_number!r}")
    if not isinstance(commit_id, str) or not _SHA.fullmatch(commit_id):
        raise ValueError(f"commit_id must be a lowercase hex commit sha, got {commit_id!r}")
    return f"<!-- aios:qa-review pr={pr_number} sha={commit_id} -->"


def find_item_marker(body: str | None, *kinds: str) -> tuple[str, str, int] | None:
    """`(kind, repo, number)` if `body` opens with an item marker of one of `kinds`."""
    match = _ITEM_MARKER.match(body or "")
    if match is None or match["kind"] not in kinds:
        return None
    return match["kind"], match["repo"], int(match["number"])


def find_progress_marker(body: str | None) -> tuple[str, int] | None:
    """`(repo, number)` of the progress comment `body`, or None if it is not one."""
    found = find_item_marker(body, "progress")
    return None if found is None else (found[1], found[2])


def find_comment_marker(body: str | None) -> tuple[str, str, int] | None:
    """`(kind, repo, number)` if `body` opens with a plan or questions marker, else None."""
    return find_item_marker(body, "plan", "questions")


# -- the Control Center -----------------------------------------------------------------------

CONTROL_CENTER_TITLE = "AIOS Control Center"
"""The title of the one issue per repository that shows the team's work (people may rename it:
AIOS finds the issue by its marker, never by its title)."""

CONTROL_CENTER_MARKER = "<!-- aios:control-center -->"
"""The hidden first line of the Control Center issue's body."""

_TARGET = r"#[1-9][0-9]*|m[1-9][0-9]*"
_TICK = re.compile(
    r"^\s*[-*] \[(?P<box>[ xX])\] "
    rf"<!-- aios:tick (?P<action>[a-z]+) (?P<target>{_TARGET}) -->",
    re.MULTILINE,
)
TICK_ACTIONS = ("approve", "retry", "cancel", "accept", "forget")
"""What a checkbox of the Control Center can ask for: a work item's (`#n`) approve, retry or
cancel; a memory's (`m<n>`) accept or forget."""


def is_control_center(body: str | None) -> bool:
    """Whether an issue body opens with the Control Center's marker."""
    return (body or "").startswith(CONTROL_CENTER_MARKER)


def tick_marker(action: str, target: str) -> str:
    """The hidden token after a Control Center checkbox: what ticking it asks for.

    `target` is `#<issue>` for a work item or `m<id>` for a memory.
    """
    if action not in TICK_ACTIONS:
        raise ValueError(f"action must be one of {TICK_ACTIONS}, got {action!r}")
    if not re.fullmatch(_TARGET, target):
        raise ValueError(f"target must be '#<issue>' or 'm<memory>', got {target!r}")
    return f"<!-- aios:tick {action} {target} -->"


def ticked_boxes(body: str | None) -> set[tuple[str, str]]:
    """`(action, target)` of every ticked Control Center checkbox in `body`."""
    return {
        (m["action"], m["target"])
        for m in _TICK.finditer(body or "")
        if m["box"] in "xX" and m["action"] in TICK_ACTIONS
    }


def new_ticks(before: str | None, after: str | None) -> list[tuple[str, str]]:
    """The boxes ticked by one edit: ticked in `after` and not in `before`, in body order."""
    already = ticked_boxes(before)
    ticked = ticked_boxes(after)
    ordered = [(m["action"], m["target"]) for m in _TICK.finditer(after or "")]
    return [tick for tick in dict.fromkeys(ordered) if tick in ticked and tick not in already]
