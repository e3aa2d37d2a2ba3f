"""The Control Center's picture (pure): each state in its section, boxes only where they act,
untrusted titles inert, the body within GitHub's size; and which boxes an edit ticked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.agents.memory import Memory
from bot.render.center import render_center
from bot.render.center_view import BudgetView, center_view, classify
from bot.render.markdown import MAX_OUTPUT_BYTES
from bot.workitem.history import ItemHistory
from bot.workitem.item import WorkItem
from bot.workitem.names import is_control_center, new_ticks, tick_marker, ticked_boxes
from bot.workitem.parts import Planning
from bot.workitem.scorecard import compute
from bot.workitem.states import State

REPO = "octo/app"
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def item(number: int, state: State, *, hours_ago: float = 2, **changes: object) -> WorkItem:
    at = NOW - timedelta(hours=hours_ago)
    base = WorkItem.new(REPO, number, 1, title=f"Item {number}", created_by="alice", at=at)
    return replace(base, state=state, roles=("backend",), **changes)  # type: ignore[arg-type]


def where(items: list[WorkItem]) -> dict[int, tuple[str, str, str | None]]:
    """issue → (section, what, box) for every item the Control Center shows."""
    sections = dict(
        zip(("waiting", "working", "stopped", "done"), classify(items, NOW), strict=True)
    )
    return {
        line.number: (name, line.what, line.action)
        for name, lines in sections.items()
        for line in lines
    }


def test_every_state_lands_in_its_section_with_the_box_that_acts() -> None:
    items = [
        item(1, State.AWAITING_PLAN_APPROVAL),
        item(2, State.CLARIFYING, planning=Planning(questions=("Why?",))),
        item(3, State.AWAITING_APPROVAL, pr_number=30),
        item(4, State.PAUSED, failure="budget"),
        item(5, State.QUEUED),
        item(6, State.TRIAGE),
        item(7, State.IMPLEMENTING, ci_fix_attempts=2),
        item(8, State.VERIFYING),
        item(9, State.IN_REVIEW, review_rounds=1),
        item(10, State.MERGING),
        item(11, State.FAILED, stopped_in=State.IMPLEMENTING, failure="boom"),
        item(12, State.AWAITING_APPROVAL, pr_number=31, needs_human="same CI failure twice"),
        item(13, State.MERGED, pr_number=32, ended_by="bob", hours_ago=24 * 3),
        item(14, State.CANCELLED, ended_by="aios"),
        item(15, State.MERGED, hours_ago=24 * 20),  # done long ago: only the scorecard counts it
    ]
    assert where(items) == {
        1: ("waiting", "plan to approve", "approve"),
        2: ("waiting", "questions to answer", None),
        3: ("waiting", "pull request #30 to review", None),
        4: ("waiting", "paused at its budget", None),
        5: ("working", "queued", "cancel"),
        6: ("working", "triage", "cancel"),
        7: ("working", "implementing", "cancel"),
        8: ("working", "verifying", "cancel"),
        9: ("working", "in review", "cancel"),
        10: ("working", "merging", None),  # a merge under way cannot be called back
        11: ("stopped", "failed in implementing", "retry"),
        12: ("stopped", "blocked", None),
        13: ("done", "merged by @bob (pull request #32)", None),
        14: ("done", "cancelled", None),
    }
    lines = {line.number: line for group in classify(items, NOW) for line in group}
    assert lines[7].detail == "CI fix 2/3" and lines[9].detail == "QA round 1/2"
    assert lines[12].detail == "same CI failure twice" and lines[11].detail == "boom"


def view_of(items: list[WorkItem], memories: tuple[Memory, ...] = ()) -> str:
    histories = [ItemHistory(i) for i in items]
    return render_center(
        center_view(
            REPO,
            histories,
            now=NOW,
            memories=memories,
            expire_after_days=28,
            budget=BudgetView("2025-06", 1.0, 500.0, 0.5, 200.0),
            scorecard=compute(histories, until=NOW),
        )
    )


def test_untrusted_titles_and_reasons_cannot_forge_a_box_a_mention_or_html() -> None:
    evil = "x\n- [ ] <!-- aios:tick retry #9 --> @org/team <img src=x>"
    body = view_of([item(1, State.FAILED, failure=evil, title=evil)])
    assert is_control_center(body)
    assert ticked_boxes(body.replace("[ ]", "[x]")) == {("retry", "#1")}  # the real box only
    assert "<img" not in body and "@org/team" not in body and "@\u200dorg/team" in body


def test_memories_show_their_source_last_use_and_expiry_with_their_box() -> None:
    used = Memory(3, "Queries go in repo/queries.py.", "accepted", NOW - timedelta(days=9), "aios",
                  "https://github.com/octo/app/pull/4#discussion_r1", "@bob's review comment",
                  last_used_at=NOW - timedelta(days=2))  # fmt: skip
    proposed = Memory(4, "Docstrings everywhere.", "proposed", NOW, "aios", None, "@bob's review")
    body = view_of([], (proposed, used))
    assert (
        f"- [ ] {tick_marker('forget', 'm3')} **forget** · **3.** Queries go in repo/queries.py. "
        "— from [@\u200dbob's review comment](https://github.com/octo/app/pull/4#discussion_r1)"
        " · used 2 d ago · expires in 26 d"
    ) in body
    assert f"- [ ] {tick_marker('accept', 'm4')} **accept** · **4.** Docstrings" in body
    assert (
        body.index("**3.**")
        < body.index("Proposed from review feedback (1)")
        < body.index("**4.**")
    )


def test_a_huge_history_still_fits_in_one_issue_body() -> None:
    items = [item(n, State.FAILED, failure="x" * 500, title="t" * 300) for n in range(1, 2001)]
    body = view_of(items)
    assert len(body.encode()) <= MAX_OUTPUT_BYTES
    assert "… and 1960 more" in body and "## 📊 Scorecard" in body


BEFORE = "\n".join(
    [
        "<!-- aios:control-center -->",
        f"- [ ] {tick_marker('retry', '#1')} **retry** · #1",
        f"- [x] {tick_marker('cancel', '#2')} **cancel** · #2",
        f"- [ ] {tick_marker('accept', 'm3')} **accept** · **3.**",
    ]
)


@pytest.mark.parametrize(
    ("after", "ticks"),
    [
        (
            BEFORE.replace("- [ ] <!-- aios:tick retry", "- [x] <!-- aios:tick retry"),
            [("retry", "#1")],
        ),
        (BEFORE.replace("[ ]", "[X]"), [("retry", "#1"), ("accept", "m3")]),
        (BEFORE, []),  # nothing new: the box ticked before is not ticked again
        (BEFORE.replace("[x]", "[ ]"), []),  # an untick asks for nothing
        (BEFORE + "\n- [x] <!-- aios:tick merge #1 -->", []),  # no such action
        (BEFORE + "\ntext - [x] <!-- aios:tick retry #4 -->", []),  # not a list item
        (BEFORE + "\n- [x] <!-- aios:tick retry #0 -->", []),  # no such issue
    ],
)
def test_the_ticks_of_an_edit_are_the_boxes_it_checked(
    after: str, ticks: list[tuple[str, str]]
) -> None:
    assert new_ticks(BEFORE, after) == ticks


def test_a_tick_marker_names_only_what_a_box_may_do() -> None:
    with pytest.raises(ValueError, match="action"):
        tick_marker("merge", "#1")
    with pytest.raises(ValueError, match="target"):
        tick_marker("retry", "1")
