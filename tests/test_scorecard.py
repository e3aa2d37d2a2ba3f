"""The scorecard's formulas, one table of histories and the figures they must give; revert
detection; windows; and `aios report --json` as a process over a seeded Redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from bot.render.scorecard import scorecard_rows
from bot.workitem import history, store
from bot.workitem.audit import AuditEntry
from bot.workitem.history import ItemHistory, PullRequestFacts
from bot.workitem.item import WorkItem
from bot.workitem.parts import ItemSettings, Planning
from bot.workitem.scorecard import compute, parse_window, reverts_of
from bot.workitem.states import Event, State

REPO = "octo/app"
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
AIOS = str(Path(sys.executable).with_name("aios"))
S, E = State, Event


def step(minutes: float, event: Event, before: State, after: State | None) -> tuple[Any, ...]:
    return (minutes, event, before, after)


def made(
    number: int,
    state: State,
    *,
    days_ago: float = 5,
    cost: float = 0.0,
    review_rounds: int = 0,
    fix_rounds: int = 0,
    questions: tuple[str, ...] = (),
    steps: tuple[tuple[Any, ...], ...] = (),
    facts: PullRequestFacts | None = None,
) -> ItemHistory:
    """An item labeled `days_ago` before NOW, with its trail `steps` (minutes after the label)."""
    created = NOW - timedelta(days=days_ago)
    item = replace(
        WorkItem.new(REPO, number, 1, title=f"Item {number}", created_by="alice", at=created),
        state=state,
        cost_usd=cost,
        review_rounds=review_rounds,
        fix_rounds=fix_rounds,
        planning=Planning(questions=questions),
        settings=ItemSettings(max_review_rounds=2),
        pr_number=100 + number if state is S.MERGED else None,
    )
    trail = tuple(
        AuditEntry(created + timedelta(minutes=m), "aios", event, before, after)
        for m, event, before, after in steps
    )
    return ItemHistory(item, trail, facts or PullRequestFacts())


def merged_after(pr_minutes: float, merge_minutes: float) -> tuple[tuple[Any, ...], ...]:
    return (
        step(0, E.LABELED_ROLE, S.QUEUED, S.IMPLEMENTING),
        step(pr_minutes, E.IMPLEMENTATION_DONE, S.IMPLEMENTING, S.VERIFYING),
        step(merge_minutes, E.MERGED, S.MERGING, S.MERGED),
    )


CI_FIX_THEN_GREEN = (
    step(30, E.CI_FAILED, S.VERIFYING, S.IMPLEMENTING),
    step(40, E.IMPLEMENTATION_DONE, S.IMPLEMENTING, S.VERIFYING),
    step(45, E.CI_PASSED, S.VERIFYING, S.IN_REVIEW),
)

MIXED = [
    # Merged after 3 rounds (1 QA, 2 fix) > max_review_rounds 2: needed help. One CI fix, green.
    made(
        1,
        S.MERGED,
        cost=3.0,
        review_rounds=1,
        fix_rounds=2,
        steps=(*merged_after(20, 120)[:2], *CI_FIX_THEN_GREEN, merged_after(20, 120)[2]),
    ),
    # Merged; a person pushed to the branch (help); reverted 3 days after the merge.
    made(
        2,
        S.MERGED,
        cost=1.0,
        steps=merged_after(10, 240),
        facts=PullRequestFacts(
            merge_sha="abc1234",
            human_commits=1,
            reverted_by="def5678",
            reverted_at=NOW - timedelta(days=5) + timedelta(minutes=240, days=3),
        ),
    ),
    # Failed after the CTO asked (help); two CI fixes, the second green; a rejected verdict.
    made(
        3,
        S.FAILED,
        cost=0.5,
        questions=("Which page size?",),
        steps=(
            step(5, E.CI_FAILED, S.VERIFYING, S.IMPLEMENTING),
            step(6, E.CI_PASSED, S.IMPLEMENTING, None),  # rejected: judges nothing
            step(8, E.CI_FAILED, S.VERIFYING, S.IMPLEMENTING),
            step(9, E.CI_PASSED, S.VERIFYING, S.IN_REVIEW),
        ),
    ),
    made(4, S.IMPLEMENTING, cost=0.5),  # under way: counts for cost, not for ended
    made(5, S.MERGED, days_ago=40, cost=10.0, steps=merged_after(1, 2)),  # before the window
]
MIXED[2] = replace(
    MIXED[2],
    audit=tuple(replace(e, rejected="stale") if e.to_state is None else e for e in MIXED[2].audit),
)

CASES: list[tuple[str, list[ItemHistory], dict[str, Any]]] = [
    (
        "nothing yet",
        [],
        {
            "started": 0,
            "ended": 0,
            "merged": 0,
            "merged_share": None,
            "human_help_share": None,
            "review_rounds_per_merged": None,
            "ci_fix_success": None,
            "label_to_pr_s": None,
            "label_to_merge_s": None,
            "cost_usd": 0.0,
            "cost_per_merged_usd": None,
            "cost_saving": None,
            "reverts": 0,
        },
    ),
    (
        "one clean merge",
        [made(1, S.MERGED, cost=2.0, steps=merged_after(10, 60))],
        {
            "started": 1,
            "ended": 1,
            "merged": 1,
            "merged_share": 1.0,
            "human_help": 0,
            "human_help_share": 0.0,
            "review_rounds_per_merged": 0.0,
            "ci_fix_attempts": 0,
            "ci_fix_success": None,
            "label_to_pr_s": 600.0,
            "label_to_merge_s": 3600.0,
            "cost_usd": 2.0,
            "cost_per_merged_usd": 2.0,
            "cost_saving": pytest.approx(0.995),
            "reverts": 0,
        },
    ),
    (
        "mixed month",
        MIXED,
        {
            "started": 4,
            "ended": 3,
            "merged": 2,
            "merged_share": pytest.approx(2 / 3),
            "human_help": 3,
            "human_help_share": 0.75,
            "review_rounds_per_merged": 1.5,
            "ci_fix_attempts": 3,
            "ci_fixes_green": 2,
            "ci_fix_success": pytest.approx(2 / 3),
            "label_to_pr_s": 900.0,
            "label_to_merge_s": 10800.0,
            "cost_usd": 5.0,
            "cost_per_merged_usd": 2.5,
            "cost_saving": pytest.approx(1 - 2.5 / 400),
            "reverts": 1,
        },
    ),
    (
        "a revert after 14 days is a change of mind",
        [
            made(
                1,
                S.MERGED,
                days_ago=25,
                steps=merged_after(10, 60),
                facts=PullRequestFacts(
                    merge_sha="abc", reverted_by="def", reverted_at=NOW - timedelta(days=5)
                ),
            )
        ],
        {"merged": 1, "reverts": 0},
    ),
]


@pytest.mark.parametrize(("name", "histories", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_formula_gives_the_figure_the_readme_defines(
    name: str, histories: list[ItemHistory], expected: dict[str, Any]
) -> None:
    card = compute(histories, until=NOW, human_cost_per_pr_usd=400.0)
    got = {key: getattr(card, key) for key in expected}
    assert got == expected, name


def test_targets_are_judged_and_shown_beside_the_figures() -> None:
    card = compute(MIXED, until=NOW)
    assert card.meets() == {"merged_share": False, "human_help_share": False, "cost_saving": True}
    rows = {name: (value, target) for name, value, target in scorecard_rows(card)}
    assert rows["merged (of the items that ended)"] == ("2 of 3 · 67%", "above 95% ⚠️")
    assert rows["needed human help"] == ("3 of 4 · 75%", "under 10% ⚠️")
    assert rows["cost per merged PR"] == (
        "$2.50 · 99% below $400.00 by people",
        "90% below people ✅",
    )
    assert rows["label → merge (median)"][0] == "3 h"
    assert compute([], until=NOW).meets() == dict.fromkeys(card.meets())


REVERTS = [
    ("git revert names the merge commit", "Revert x\n\nThis reverts commit abc1234ef.", {"a"}),
    ("a short sha is enough", "This reverts commit abc1234.", {"a"}),
    ("GitHub's revert button, squashed", 'Revert "Add the users query (#102)"\n\n* body', {"b"}),
    ("another PR's revert", 'Revert "Other (#7)"', set()),
    ("no revert at all", "Add a feature; this is not a revert of abc1234", set()),
]


@pytest.mark.parametrize(("name", "message", "found"), REVERTS, ids=[r[0] for r in REVERTS])
def test_reverts_are_found_by_merge_commit_or_pull_request(
    name: str, message: str, found: set[str]
) -> None:
    merges = {"a": ("abc1234ef0123456789", 101), "b": ("ffff000", 102)}
    at = NOW - timedelta(days=1)
    assert set(reverts_of(merges, [("9999999", message, at)])) == found, name


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("12h", 0.5), ("2w", 14), (" 7D ", 7)])
def test_a_window_is_a_number_and_a_unit(text: str, days: float) -> None:
    assert parse_window(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "d", "30", "0d", "-1d", "1.5d", "30m"])
def test_a_window_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="a window is"):
        parse_window(text)


async def _seed(url: str, histories: list[ItemHistory]) -> None:
    """Store the histories as AIOS would: items, audit streams, PR facts."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        for h in histories:
            await store.save_item(client, h.item)
            for entry in h.audit:
                if entry.rejected:
                    await store.append_audit(client, h.item.key, entry)
                else:
                    await store.save_item(client, h.item, entry)
            f = h.facts
            await history.record_facts(
                client,
                h.item.key,
                merge_sha=f.merge_sha,
                human_commits=f.human_commits or None,
                reverted_by=f.reverted_by,
                reverted_at=f.reverted_at,
            )
    finally:
        await client.aclose()


def shifted(histories: list[ItemHistory], delta: timedelta) -> list[ItemHistory]:
    """The same histories moved in time (so they sit in the last 30 days of the real now)."""
    out = []
    for h in histories:
        item = replace(h.item, created_at=h.item.created_at + delta, updated_at=NOW + delta)
        audit = tuple(replace(e, at=e.at + delta) for e in h.audit)
        at = h.facts.reverted_at
        facts = replace(h.facts, reverted_at=at + delta if at else None)
        out.append(ItemHistory(item, audit, facts))
    return out


def test_aios_report_json_prints_the_seeded_historys_figures(redis_url: str) -> None:
    delta = datetime.now(UTC) - NOW
    asyncio.run(_seed(redis_url, shifted(MIXED, delta)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOS_", "REDIS"))}
    env["REDIS_URL"] = redis_url
    done = subprocess.run(
        [AIOS, "report", "--repo", REPO, "--since", "30d", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)["repositories"][REPO]
    expected = dict(CASES[2][2])
    got = {key: figures[key] for key in expected}
    assert got == expected
    assert figures["meets_target"] == {
        "merged_share": False,
        "human_help_share": False,
        "cost_saving": True,
    }

    text = subprocess.run(
        [AIOS, "report"], capture_output=True, text=True, env=env, timeout=60, check=True
    ).stdout
    assert text.startswith(f"{REPO} — last 30 days")
    assert "needed human help" in text and "3 of 4 · 75%   (target: under 10% ⚠️)" in text

    narrow = subprocess.run(
        [AIOS, "report", "--since", "1d", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    assert json.loads(narrow)["repositories"][REPO]["started"] == 0


def test_aios_report_says_what_it_needs(redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOS_", "REDIS"))}
    missing = subprocess.run([AIOS, "report"], capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode == 2 and "REDIS_URL" in missing.stderr
    env["REDIS_URL"] = redis_url
    bad = subprocess.run(
        [AIOS, "report", "--since", "a month"], capture_output=True, text=True, env=env, timeout=60
    )
    assert bad.returncode == 2 and "a window is" in bad.stderr
