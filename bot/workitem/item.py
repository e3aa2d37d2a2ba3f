"""The work item as stored: one issue and, later, its pull request, with its typed parts.

`to_dict` writes format `SCHEMA_VERSION`; `from_dict` reads it and every older format AIOS
ever wrote (format 1 kept its parts in a free `extra` mapping; format 2 named `stopped_in`
`failed_from`; format 3 lacked the issue's text and the workflow path settings, which take
their defaults), so items in flight survive an upgrade.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, Union, get_args, get_origin, get_type_hints

from bot.workitem.names import branch_name
from bot.workitem.parts import (
    CIState,
    Feedback,
    IssueText,
    ItemSettings,
    PendingEffects,
    Planning,
    PullRequestState,
    Work,
)
from bot.workitem.plan import Plan, PlanFormatError
from bot.workitem.states import State

SCHEMA_VERSION = 5
"""Version of `WorkItem.to_dict()`; bump it (and teach `from_dict` the old one) on change.
4: `issue` (the text at the trigger), `settings.allow_workflow_edits` and
`settings.protected_paths`. 5: `settings.environment` and `work.environment`. An AIOS that
writes N cannot read N+1: roll back by draining."""

_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True, kw_only=True)
class WorkItem:
    """One issue and, later, its pull request."""

    repo: str
    number: int
    installation_id: int
    created_at: datetime
    updated_at: datetime
    title: str = ""
    created_by: str = ""
    state: State = State.QUEUED
    roles: tuple[str, ...] = ()
    branch: str | None = None
    pr_number: int | None = None
    plan: Plan | None = None
    review_rounds: int = 0
    fix_rounds: int = 0
    ci_fix_attempts: int = 0
    stopped_in: State | None = None
    """The state the item failed, paused or was cancelled in: the step to resume or show."""
    failure: str | None = None
    """Why it failed or paused, shown to maintainers."""
    stop_hint: str | None = None
    """What would help after a failure; None: `/aios retry` (the step can simply run again)."""
    ended_by: str | None = None
    """Who cancelled or merged it."""
    needs_human: str | None = None
    """Why the agents handed the pull request to the maintainers (a bound, a repeated CI
    failure); the check run asks for action while it is set."""
    tokens: int = 0
    cost_usd: float = 0.0
    progress_comment_id: int | None = None
    issue: IssueText | None = None
    """The issue's text as the agents read it; None for items started before AIOS kept it."""
    settings: ItemSettings = field(default_factory=ItemSettings)
    planning: Planning = field(default_factory=Planning)
    work: Work = field(default_factory=Work)
    pr: PullRequestState = field(default_factory=PullRequestState)
    feedback: Feedback = field(default_factory=Feedback)
    ci: CIState = field(default_factory=CIState)
    pending: PendingEffects | None = None

    def __post_init__(self) -> None:
        if not _REPO.fullmatch(self.repo):
            raise ValueError(f"repo must be 'owner/name', got {self.repo!r}")
        for name in ("number", "installation_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("created_at", "updated_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware (use datetime.now(UTC))")

    @classmethod
    def new(
        cls,
        repo: str,
        number: int,
        installation_id: int,
        *,
        title: str,
        created_by: str,
        at: datetime,
        roles: tuple[str, ...] = (),
        settings: ItemSettings | None = None,
        issue: IssueText | None = None,
    ) -> WorkItem:
        """A queued item for a freshly labeled issue, its branch name already chosen."""
        return cls(
            repo=repo,
            number=number,
            installation_id=installation_id,
            title=title,
            created_by=created_by,
            created_at=at,
            updated_at=at,
            roles=roles,
            branch=branch_name(number, title),
            settings=settings or ItemSettings(),
            issue=issue,
        )

    @property
    def key(self) -> str:
        return f"{self.repo}#{self.number}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": SCHEMA_VERSION}
        for name in _FIELDS:
            data[name] = _plain(getattr(self, name))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkItem:
        """Read a stored item of any format; raises ValueError naming the field that is wrong."""
        version = data.get("v")
        if version == 1:
            data = _from_format_1(data)
        elif version == 2:
            data = _from_format_2(data)
        elif version in (3, 4):
            data = {**data, "v": SCHEMA_VERSION}  # the parts added since take their defaults
        elif version != SCHEMA_VERSION:
            raise ValueError(
                f"work item schema version {version!r} is not {SCHEMA_VERSION}; "
                "it was written by another AIOS version"
            )
        unknown = sorted(set(data) - set(_FIELDS) - {"v"})
        if unknown:
            raise ValueError(f"unknown work item field(s): {', '.join(unknown)}")
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise ValueError(f"work item field(s) missing: {', '.join(missing)}")
        hints = _hints(cls)
        values = {
            name: _typed(hints[name], value, name) for name, value in data.items() if name != "v"
        }
        try:
            return cls(**values)
        except TypeError as exc:
            raise ValueError(f"work item is malformed: {exc}") from None


_FIELDS = tuple(f.name for f in fields(WorkItem))
_REQUIRED = ("repo", "number", "installation_id", "created_at", "updated_at")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's field types, resolved once: `get_type_hints` compiles each string
    annotation anew, which made reading 500 stored items take half a second."""
    return get_type_hints(cls)


def _plain(value: Any) -> Any:
    """A field as JSON data: parts become objects, tuples lists, states and times strings."""
    if isinstance(value, Plan):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, State):
        return value.value
    return value


def _typed(hint: Any, value: Any, path: str) -> Any:
    """JSON data back into the type a field declares; ValueError names the field."""
    if get_origin(hint) in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None:
            return None
        hint = options[0]
    if hint is Plan:
        try:
            return Plan.from_dict(value)
        except PlanFormatError as exc:
            raise ValueError(f"work item field {path}: {exc}") from None
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is State:
        return State(value)
    if get_origin(hint) is tuple:
        element = get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise ValueError(f"work item field {path} must be a list")
        return tuple(_typed(element, v, f"{path}[{i}]") for i, v in enumerate(value))
    if is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ValueError(f"work item field {path} must be an object")
        known = {f.name for f in fields(hint)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown work item field(s) in {path}: {', '.join(unknown)}")
        part_hints = _hints(hint)
        return hint(**{k: _typed(part_hints[k], v, f"{path}.{k}") for k, v in value.items()})
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _from_format_2(data: Mapping[str, Any]) -> dict[str, Any]:
    """Format 2 called `stopped_in` `failed_from`, and knew only failed items."""
    values = {k: v for k, v in data.items() if k != "failed_from"}
    values["v"] = SCHEMA_VERSION
    values["stopped_in"] = data.get("failed_from")
    return values


def _from_format_1(data: Mapping[str, Any]) -> dict[str, Any]:
    """Format 1 (AIOS 0.1) kept the parts in `extra` under free keys: map each to its part."""
    values = {k: v for k, v in data.items() if k not in ("extra", "failed_from")}
    values["v"] = SCHEMA_VERSION
    values["stopped_in"] = data.get("failed_from")
    extra = dict(data.get("extra") or {})
    policy = dict(extra.pop("policy", None) or {})
    needs_approval = extra.pop("needs_approval", None)
    if "require_plan_approval" not in policy and needs_approval is not None:
        policy["require_plan_approval"] = bool(needs_approval)
    for key in ("min_edit_interval_s", "budget_usd"):
        if key in extra:
            policy[key] = extra.pop(key)
    values["settings"] = policy
    values["planning"] = {
        "questions": extra.pop("questions", []),
        "feedback": extra.pop("plan_feedback", None),
        "approved_by": extra.pop("approved_by", None),
    }
    try:
        handoffs = [{"role": r, "note": n} for r, n in extra.pop("handoffs", [])]
    except (TypeError, ValueError):
        raise ValueError("work item extra field handoffs must be [role, note] pairs") from None
    values["work"] = {
        "tasks_done": extra.pop("tasks_done", 0),
        "handoffs": handoffs,
        "narration": extra.pop("narration", None),
    }
    values["pr"] = {
        "node_id": extra.pop("pr_node_id", None),
        "head_sha": extra.pop("head_sha", None),
        "merge_waiting": bool(extra.pop("merge_waiting", False)),
    }
    values["feedback"] = {
        "requests": extra.pop("fix_requests", []),
        "qa_notes": extra.pop("qa_notes", None),
        "more": bool(extra.pop("more_feedback", False)),
    }
    values["ci"] = {
        "failure": extra.pop("ci_failure", None),
        "failed_checks": extra.pop("ci_failed_checks", "") or "",
        "repeated": bool(extra.pop("ci_repeated", False)),
        "fingerprint": extra.pop("ci_fingerprint", None),
    }
    pending = extra.pop("pending_effects", None)
    values["pending"] = pending
    if extra:
        raise ValueError(f"unknown work item extra field(s): {', '.join(sorted(extra))}")
    return values
