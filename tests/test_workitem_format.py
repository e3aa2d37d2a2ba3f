"""Stored work items survive an upgrade; the markers AIOS finds its writes by never change."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis.asyncio

from bot.workitem import store
from bot.workitem.item import SCHEMA_VERSION, WorkItem
from bot.workitem.names import (
    comment_marker,
    config_problems_marker,
    find_comment_marker,
    find_progress_marker,
    merge_blocked_marker,
    needs_human_marker,
    progress_marker,
    pull_request_marker,
    qa_review_marker,
    reply_marker,
)
from bot.workitem.parts import (
    CIState,
    Feedback,
    FixRequest,
    Handoff,
    IssueText,
    ItemSettings,
    Narration,
    PendingEffects,
    Planning,
    PullRequestState,
    Work,
)
from bot.workitem.plan import Plan, PlanTask
from bot.workitem.states import State

FORMAT_1 = """{
  "branch": "aios/42-paginate-get-users", "ci_fix_attempts": 1,
  "cost_usd": 0.3812, "created_at": "2026-11-30T09:15:00+00:00", "created_by": "maintainer",
  "extra": {
    "approved_by": "maintainer", "budget_usd": 5.0, "ci_failed_checks": "`tests`",
    "ci_failure": "## CI on `abc1234`: failed", "ci_fingerprint": "f00dfeedc0ffee00",
    "ci_repeated": false, "fix_requests": [{"by": "carol", "text": "rename the flag"}],
    "handoffs": [["backend", "Added the cursor parameter."], ["frontend", "Page controls."]],
    "head_sha": "0123456789abcdef0123456789abcdef01234567", "merge_waiting": false,
    "min_edit_interval_s": 3.0, "more_feedback": true,
    "narration": {"role": "frontend", "text": "wiring the next page button"},
    "needs_approval": true, "pending_effects": {"effects": ["run_fix", "update_progress"],
    "actor": "ci", "event": "ci_failed"}, "plan_feedback": "smaller pages",
    "policy": {"max_ci_fix_attempts": 3, "max_fix_rounds": 2, "max_review_rounds": 2,
      "require_plan_approval": true},
    "pr_node_id": "PR_kwDOABC", "qa_notes": "Missing a test for the last page.",
    "questions": ["Should deleted users be listed?"], "tasks_done": 2
  },
  "failed_from": null, "failure": null, "fix_rounds": 0, "installation_id": 7,
  "number": 42,
  "plan": {"decisions": [], "risks": ["Clients reading the whole list break."],
    "summary": "Cursor pagination.", "tasks": [
      {"acceptance": ["next page works"], "files": ["app/users.py"], "role": "backend",
       "title": "Cursor pagination for GET /users"},
      {"acceptance": [], "files": [], "role": "frontend", "title": "Page controls"}]},
  "pr_number": 43, "progress_comment_id": 9001, "repo": "octo/app", "review_rounds": 1,
  "roles": ["cto"], "state": "implementing", "title": "Paginate GET /users",
  "tokens": 41000, "updated_at": "2026-11-30T09:21:00+00:00", "v": 1
}"""
"""A work item as AIOS 0.1 stored it (every `extra` key that version wrote)."""


FORMAT_2 = """{
  "branch": "aios/42-paginate-get-users", "ci": {"failed_checks": "", "failure": null,
    "fingerprint": null, "repeated": false}, "ci_fix_attempts": 0, "cost_usd": 0.12,
  "created_at": "2026-12-01T09:15:00+00:00", "created_by": "maintainer", "failed_from": null,
  "failure": null, "feedback": {"more": false, "qa_notes": null, "requests": []},
  "fix_rounds": 0, "installation_id": 7, "number": 42, "pending": null, "plan": null,
  "planning": {"approved_by": null, "feedback": null, "questions": ["Cursor or pages?"]},
  "pr": {"head_sha": null, "merge_waiting": false, "node_id": null}, "pr_number": null,
  "progress_comment_id": 9001, "repo": "octo/app", "review_rounds": 0, "roles": ["cto"],
  "settings": {"budget_usd": 5.0, "max_ci_fix_attempts": 3, "max_fix_rounds": 3,
    "max_review_rounds": 2, "min_edit_interval_s": 3.0, "require_plan_approval": true},
  "state": "clarifying", "title": "Paginate GET /users", "tokens": 9000,
  "updated_at": "2026-12-01T09:16:00+00:00",
  "work": {"handoffs": [], "narration": null, "tasks_done": 0}, "v": 2
}"""
"""A work item as the typed-parts release stored it, before the issue text was kept."""

FORMAT_3 = (
    FORMAT_2.replace('"failed_from": null', '"stopped_in": null')
    .replace('"v": 2', '"v": 3')
    .replace(
        '"budget_usd": 5.0,',
        '"budget_usd": 5.0, "delete_branch_on_merge": true, "job_budget_usd": 2.0, '
        '"merge_method": "squash", "models": [{"role": "cto", "model": "claude-opus"}], '
        '"month_budget_usd": 200.0, "personas": true, "require_independent_approval": false, '
        '"required_approvals": 1,',
    )
)
"""The same item as the budgets-and-merge release stored it (`stopped_in`, more settings)."""


@pytest.mark.parametrize("stored", [FORMAT_2, FORMAT_3], ids=["format 2", "format 3"])
def test_items_of_formats_2_and_3_load_without_the_issue_text_and_with_default_paths(
    stored: str,
) -> None:
    item = WorkItem.from_dict(json.loads(stored))
    assert item.state is State.CLARIFYING and item.planning.questions == ("Cursor or pages?",)
    assert item.issue is None  # its jobs read the issue as those formats' did
    assert item.settings.allow_workflow_edits is False
    assert item.settings.protected_paths == (".github/aios.yml", "CODEOWNERS")
    data = json.loads(json.dumps(item.to_dict()))
    assert data["v"] == SCHEMA_VERSION == 5 and WorkItem.from_dict(data) == item


def test_the_issue_text_and_path_settings_survive_a_round_trip() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    text = IssueText("Fix it", "The body.", "bob", "2026-12-01T09:00:00Z", "alice", ("mallory",))
    settings = ItemSettings(allow_workflow_edits=True, protected_paths=("deploy/",))
    item = WorkItem.new(
        "octo/app", 5, 7, title="Fix it", created_by="m", at=at, issue=text, settings=settings
    )
    assert WorkItem.from_dict(json.loads(json.dumps(item.to_dict()))) == item


def test_an_item_stored_by_aios_0_1_loads_into_its_typed_parts() -> None:
    item = WorkItem.from_dict(json.loads(FORMAT_1))
    assert (item.key, item.state, item.pr_number, item.tokens) == (
        "octo/app#42",
        State.IMPLEMENTING,
        43,
        41000,
    )
    assert item.settings == ItemSettings(
        require_plan_approval=True,
        max_review_rounds=2,
        max_fix_rounds=2,
        max_ci_fix_attempts=3,
        min_edit_interval_s=3.0,
        budget_usd=5.0,
    )
    assert item.planning == Planning(
        questions=("Should deleted users be listed?",),
        feedback="smaller pages",
        approved_by="maintainer",
    )
    assert item.work == Work(
        tasks_done=2,
        handoffs=(
            Handoff("backend", "Added the cursor parameter."),
            Handoff("frontend", "Page controls."),
        ),
        narration=Narration("frontend", "wiring the next page button"),
    )
    assert item.pr == PullRequestState(
        node_id="PR_kwDOABC", head_sha="0123456789abcdef0123456789abcdef01234567"
    )
    assert item.feedback == Feedback(
        requests=(FixRequest("carol", "rename the flag"),),
        qa_notes="Missing a test for the last page.",
        more=True,
    )
    assert item.ci == CIState(
        failure="## CI on `abc1234`: failed",
        failed_checks="`tests`",
        repeated=False,
        fingerprint="f00dfeedc0ffee00",
    )
    assert item.pending == PendingEffects("ci_failed", "ci", ("run_fix", "update_progress"))
    assert item.plan is not None and item.plan.tasks[0] == PlanTask(
        "backend", "Cursor pagination for GET /users", ("next page works",), ("app/users.py",)
    )


def test_a_migrated_item_is_saved_in_the_current_format_and_reads_back_the_same() -> None:
    item = WorkItem.from_dict(json.loads(FORMAT_1))
    data = json.loads(json.dumps(item.to_dict()))
    assert data["v"] == SCHEMA_VERSION and "extra" not in data
    assert WorkItem.from_dict(data) == item


async def test_the_store_loads_an_item_written_by_aios_0_1(aredis: redis.asyncio.Redis) -> None:
    await aredis.set(store.ITEM_KEY.format(key="octo/app#42"), FORMAT_1)
    item = await store.load_item(aredis, "octo/app", 42)
    assert item is not None and item.work.tasks_done == 2
    await store.save_item(aredis, item)
    raw = json.loads(await aredis.get(store.ITEM_KEY.format(key="octo/app#42")))
    assert raw["v"] == SCHEMA_VERSION and raw["work"]["tasks_done"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"surprise": 1}, r"unknown work item extra field\(s\): surprise"),
        ({"handoffs": "not a list"}, "handoffs"),
    ],
)
def test_an_old_item_with_data_this_version_cannot_read_is_refused_by_name(
    change: dict[str, object], message: str
) -> None:
    data = json.loads(FORMAT_1)
    data["extra"].update(change)
    with pytest.raises(ValueError, match=message):
        WorkItem.from_dict(data)


def test_a_misspelt_part_is_refused_by_name() -> None:
    data = json.loads(json.dumps(WorkItem.from_dict(json.loads(FORMAT_1)).to_dict()))
    data["work"]["task_done"] = 3
    with pytest.raises(ValueError, match=r"in work: task_done"):
        WorkItem.from_dict(data)


def test_a_new_item_has_default_parts_and_the_current_version() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    plan = Plan("One task.", (PlanTask("backend", "Do it"),))
    item = WorkItem.new("octo/app", 5, 7, title="Fix it", created_by="m", at=at)
    assert item.work == Work() and item.ci == CIState() and item.pending is None
    assert WorkItem.from_dict(item.to_dict()) == item
    with_plan = WorkItem.from_dict({**item.to_dict(), "plan": plan.to_dict()})
    assert with_plan.plan == plan


def test_every_hidden_marker_is_byte_identical_to_what_aios_0_1_wrote() -> None:
    """AIOS finds its comments, reviews and pull requests again by these: never change them."""
    assert progress_marker("octo/app", 42) == "<!-- aios:progress item=octo/app#42 -->"
    assert comment_marker("plan", "octo/app", 42) == "<!-- aios:plan item=octo/app#42 -->"
    assert comment_marker("questions", "o/r", 1) == "<!-- aios:questions item=o/r#1 -->"
    assert pull_request_marker("octo/app#42") == "<!-- aios:pr item=octo/app#42 -->"
    assert needs_human_marker("octo/app#42") == "<!-- aios:needs-human item=octo/app#42 -->"
    assert merge_blocked_marker("o/r#2") == "<!-- aios:merge-blocked item=o/r#2 -->"
    assert config_problems_marker("o/r", 3) == "<!-- aios:config-problems item=o/r#3 -->"
    assert reply_marker(77, 0) == "<!-- aios:reply comment=77 line=0 -->"
    assert qa_review_marker(43, "abc1234") == "<!-- aios:qa-review pr=43 sha=abc1234 -->"
    assert find_progress_marker(progress_marker("a/b", 9) + "\nbody") == ("a/b", 9)
    assert find_comment_marker(comment_marker("plan", "a/b", 9)) == ("plan", "a/b", 9)
    assert find_comment_marker(progress_marker("a/b", 9)) is None
    assert find_progress_marker(comment_marker("plan", "a/b", 9)) is None
