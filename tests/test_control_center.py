"""The Control Center through the whole pipeline in one process: created once, sections that
tell the truth, ticks that act only for people who may steer, found again after Redis forgets,
memories learned from review feedback, accepted, used and expired."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio
import yaml

from bot.agents import memory
from bot.testbed.github import app_events
from bot.testbed.turns import SPEND_LIMIT, Turn, call, finish, qa_pass
from bot.workitem import history
from bot.workitem.states import State
from tests.agent_harness import Team
from tests.serve_harness import REPO

LESSONS = {
    "memories": [
        {"text": "Database access goes through `repo/queries.py`, never raw SQL.", "source": 1},
        {"text": "Every public function gets a docstring.", "source": 2},
    ]
}


def configure(team: Team, settings: dict[str, Any]) -> None:
    team.fake.push_as("alice", REPO, "main", {".github/aios.yml": yaml.safe_dump(settings)})


def label(team: Team, title: str, name: str = "aios") -> int:
    issue = team.fake.add_issue(REPO, title, "Please.")
    team.fake.label_issue_as("alice", REPO, issue.number, name)
    team.drain()
    return issue.number


def one_task(summary: str = "Done.", path: str = "app.py") -> list[Turn]:
    return [
        Turn("On it.", [call("write_file", path=path, content=f"# {summary}\n")]),
        finish(summary),
    ]


def section(body: str, title: str) -> str:
    """The lines of one `## <title>` section of the Control Center."""
    start = body.index(f"## {title}")
    end = body.find("\n## ", start + 1)
    return body[start : end if end != -1 else len(body)]


def failed_item(team: Team, title: str = "Fix the login") -> int:
    team.model.script.append(SPEND_LIMIT)  # the task fails at once, never retried
    number = label(team, title, "aios:backend")
    assert team.item(number).state is State.FAILED
    return number


def prompts(team: Team) -> list[str]:
    return [json.dumps(r.body) for r in team.model.requests]


def test_the_first_work_item_creates_the_control_center_and_only_one(team: Team) -> None:
    first = failed_item(team)
    center = team.center()
    assert center.title == "AIOS Control Center"
    assert center.user == team.fake.bot_login
    assert center.pinned  # to the top of the repository's issues
    stopped = section(center.body, "🛑 Stopped")
    assert f"<!-- aios:tick retry #{first} --> **retry** · #{first} Fix the login" in stopped
    assert "failed in implementing" in stopped and "🛠️ Bea" in stopped and "spend limit" in stopped

    team.model.script.append(finish(json.dumps({"questions": ["Which page size?"]})))
    second = label(team, "Paginate users")
    body = team.center().body  # still exactly one issue (center() asserts it)
    waiting = section(body, "⏳ Waiting for you")
    assert f"#{second} Paginate users · questions to answer" in waiting
    created = team.fake.calls("POST", r"/repos/octo-org/hello/issues$")
    assert len(created) == 1


def test_a_write_users_retry_tick_retries_and_is_cleared(team: Team) -> None:
    number = failed_item(team)
    center = team.center()
    team.model.script += [*one_task("Second try worked."), qa_pass()]
    team.fake.tick_as("alice", REPO, center.number, f"aios:tick retry #{number}")
    team.drain()
    assert team.item(number).state is State.AWAITING_APPROVAL
    body = team.center().body
    assert "[x]" not in body
    assert f"retry #{number}" not in body  # it is no longer stopped


def test_a_read_only_users_tick_is_undone_and_does_nothing(team: Team) -> None:
    number = failed_item(team)
    center = team.center()
    asked = len(team.model.requests)
    team.fake.tick_as("bob", REPO, center.number, f"aios:tick retry #{number}")
    assert "- [x]" in team.fake.repo(REPO).issues[center.number].body
    body = team.center().body
    assert "- [x]" not in body
    assert f"- [ ] <!-- aios:tick retry #{number} -->" in body
    assert team.item(number).state is State.FAILED
    assert len(team.model.requests) == asked  # no agent ran


def test_an_approve_tick_approves_the_plan_and_a_cancel_tick_cancels(team: Team) -> None:
    plan = {"plan": {"summary": "One part.", "tasks": [{"role": "backend", "title": "Do it"}]}}
    team.model.script.append(finish(json.dumps(plan)))
    number = label(team, "Plan first")
    center = team.center()
    assert f"<!-- aios:tick approve #{number} --> **approve plan**" in center.body
    team.model.script += [*one_task("Implemented."), qa_pass()]
    team.fake.tick_as("alice", REPO, center.number, f"aios:tick approve #{number}")
    team.drain()
    item = team.item(number)
    assert item.planning.approved_by == "alice"
    assert item.state is State.AWAITING_APPROVAL
    body = team.center().body
    assert f"pull request #{item.pr_number} to review" in section(body, "⏳ Waiting for you")

    # An item whose agent waits for a free worker is working; its box cancels it.
    busy = team.fake.add_issue(REPO, "Busy", "Please.").number
    team.fake.label_issue_as("alice", REPO, busy, "aios:backend")
    team.drain(agents=False)
    assert team.item(busy).state is State.IMPLEMENTING
    center = team.center_without_agents()
    assert f"<!-- aios:tick cancel #{busy} --> **cancel**" in section(center.body, "🛠️ Working")
    team.fake.tick_as("alice", REPO, center.number, f"aios:tick cancel #{busy}")
    team.drain()
    cancelled = team.item(busy)
    assert cancelled.state is State.CANCELLED and cancelled.ended_by == "alice"
    done = section(team.center().body, "✅ Done recently")
    assert f"#{busy} Busy · cancelled by @\u200dalice" in done


def test_after_redis_forgets_the_center_it_is_found_again_not_duplicated(team: Team) -> None:
    number = failed_item(team)
    first = team.center()
    team.connection.delete("aios:center:octo-org/hello", "aios:center:due", "aios:app:slug")
    team.model.script.append(finish(json.dumps({"questions": ["Why?"]})))
    label(team, "Another one")
    again = team.center()
    assert again.number == first.number
    assert f"retry #{number}" in again.body and "Another one" in again.body


def test_control_center_false_makes_no_issue_but_still_counts(team: Team) -> None:
    configure(team, {"control_center": False})
    failed_item(team)
    team.flush_center()
    assert team.centers() == []
    figures = asyncio.run(_scorecards(team.redis_url))
    assert figures[REPO]["started"] == 1.0 and figures[REPO]["ended"] == 1.0


async def _scorecards(url: str) -> dict[str, dict[str, float]]:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return await history.load_scorecards(client)
    finally:
        await client.aclose()


def test_remember_and_forget_show_up_in_the_center_and_the_forget_box_works(team: Team) -> None:
    issue = team.fake.add_issue(REPO, "Notes")
    team.fake.comment_as("alice", REPO, issue.number, "/aios remember Use tabs, never spaces.")
    team.drain()
    body = team.center().body
    learned = section(body, "🧠 What the agents learned")
    assert "<!-- aios:tick forget m1 --> **forget** · **1.** Use tabs, never spaces." in learned
    assert "never used yet" in learned and "expires in 28 d" in learned
    team.fake.tick_as("alice", REPO, team.centers()[0].number, "aios:tick forget m1")
    team.drain()
    assert "Use tabs" not in team.center().body


def merged_pr_with_two_review_comments(team: Team) -> int:
    """An agent PR, two inline review comments from alice, a fix round, approval, merge."""
    team.model.script += [*one_task("Added the query."), qa_pass()]
    number = label(team, "Add the users query", "aios:backend")
    pr = team.item(number).pr_number
    assert pr is not None
    team.model.script += [
        Turn("Fixing.", [call("write_file", path="app.py", content="# fixed\n")]),
        finish(json.dumps({"summary": "Moved it.", "replies": {"T1": "Moved.", "T2": "Added."}})),
        qa_pass(),
    ]
    team.fake.review_as(
        "alice",
        REPO,
        pr,
        "REQUEST_CHANGES",
        "Two things.",
        [
            {"path": "app.py", "line": 1, "side": "RIGHT", "body": "Use repo/queries.py here."},
            {"path": "app.py", "line": 1, "side": "RIGHT", "body": "Public functions need docs."},
        ],
    )
    team.drain()
    assert team.item(number).state is State.AWAITING_APPROVAL
    team.model.script.append(finish(json.dumps(LESSONS)))  # the distiller, after the merge
    team.fake.review_as("alice", REPO, pr, "APPROVE")
    team.drain()
    assert team.item(number).state is State.MERGED
    return number


def test_review_feedback_becomes_proposed_memories_accepted_used_and_expired(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged_pr_with_two_review_comments(team)
    distiller = team.model.requests[-1]
    assert distiller.model == "claude-haiku-5-5"  # the cheap route (task kind "summary")
    assert "Use repo/queries.py here." in json.dumps(distiller.body)
    comments = team.fake.review_comments(REPO, team.fake.pulls(REPO)[0].number)
    human = [c for c in comments if c.user == "alice"]

    center = team.center()
    learned = section(center.body, "🧠 What the agents learned")
    assert "Proposed from review feedback (2), tick to accept:" in learned
    assert (
        "<!-- aios:tick accept m1 --> **accept** · **1.** Database access goes through" in learned
    )
    assert f"(https://github.com/{REPO}/pull/" in learned
    assert "@\u200dalice's review comment on app.py:1" in learned
    assert str(human[0].id) in learned and str(human[1].id) in learned

    # Proposed memories are in no prompt; the accepted one is in the next agent's.
    team.fake.tick_as("alice", REPO, center.number, "aios:tick accept m1")
    team.drain()
    asked = len(team.model.requests)
    team.model.script.append(finish(json.dumps({"questions": ["Which one?"]})))
    label(team, "Next thing")
    prompt = prompts(team)[asked]
    assert "Database access goes through" in prompt
    assert "Every public function gets a docstring" not in prompt
    learned = section(team.center().body, "🧠 What the agents learned")
    assert "<!-- aios:tick forget m1 -->" in learned
    assert re.search(r"\*\*1\.\*\* Database access .* · used \d+ s ago · expires in 28 d", learned)

    # 29 days on, unused since: expired, out of the prompt and out of the Control Center.
    later = datetime.now(UTC) + timedelta(days=29)
    monkeypatch.setattr(memory, "utcnow", lambda: later)
    asked = len(team.model.requests)
    team.model.script.append(finish(json.dumps({"questions": ["And this?"]})))
    label(team, "Later thing")
    assert "Database access goes through" not in prompts(team)[asked]
    assert "Database access" not in team.center().body


def test_auto_accept_and_the_expiry_come_from_the_repository(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(team, {"memory": {"auto_accept": True, "expire_after_days": 3}})
    merged_pr_with_two_review_comments(team)
    learned = section(team.center().body, "🧠 What the agents learned")
    assert "In every agent's prompt (2); a memory no agent used for 3 days expires" in learned
    assert "Proposed" not in learned
    later = datetime.now(UTC) + timedelta(days=4)
    monkeypatch.setattr(memory, "utcnow", lambda: later)
    assert "Database access" not in team.center().body


def test_the_scorecard_compares_cost_with_the_repositorys_human_cost(team: Team) -> None:
    configure(team, {"scorecard": {"human_cost_per_pr_usd": 250}})
    merged_pr_with_two_review_comments(team)
    card = section(team.center().body, "📊 Scorecard")
    assert "| merged (of the items that ended) | 1 of 1 · 100% | above 95% ✅ |" in card
    assert "below $250.00 by people" in card
    assert "| needed human help | 0 of 1 · 0% |" in card  # one fix round is within the bound
    assert "| review rounds per merged PR | 1.0 |" in card


def test_installing_the_app_creates_the_control_center_before_any_work(team: Team) -> None:
    team.fake.deliver("installation", app_events.installation_created(team.fake, [REPO]))
    center = team.center()
    assert "_Nothing waits for you._" in center.body and "| items started | 0 |" in center.body
    assert {"aios", "aios:backend"} <= set(team.fake.repo(REPO).labels)
    team.fake.deliver("installation", app_events.installation_created(team.fake, [REPO]))
    team.center()  # installed again (a redelivery): still exactly one


def test_a_repository_with_three_pinned_issues_still_gets_its_control_center(team: Team) -> None:
    for title in ("Roadmap", "FAQ", "Releases"):
        team.fake.add_issue(REPO, title).pinned = True
    failed_item(team)
    center = team.center()
    assert not center.pinned and "retry #" in center.body


def test_labeling_the_control_center_itself_starts_no_work(team: Team) -> None:
    failed_item(team)
    center = team.center()
    asked = len(team.model.requests)
    team.fake.label_issue_as("alice", REPO, center.number, "aios")
    team.drain()
    assert len(team.model.requests) == asked
    assert team.item_or_none(center.number) is None


def test_a_revert_of_a_merged_agent_pr_on_the_default_branch_is_counted(team: Team) -> None:
    merged_pr_with_two_review_comments(team)
    (pr,) = team.fake.pulls(REPO)
    assert pr.merge_commit_sha
    assert "| reverted within 14 days of merge | 0 |" in team.center().body
    team.fake.push_as(
        "alice",
        REPO,
        "main",
        {"app.py": "# back\n"},
        message=f'Revert "{pr.title}"\n\nThis reverts commit {pr.merge_commit_sha}.',
    )
    team.connection.hdel("aios:center:octo-org/hello", "reverts_checked")  # 15 minutes on
    assert "| reverted within 14 days of merge | 1 |" in team.center().body


def test_metrics_export_each_repositorys_scorecard(team: Team) -> None:
    failed_item(team)
    team.flush_center()
    origin = str(team.fake.webhook_url).removesuffix("/webhook")
    with urllib.request.urlopen(f"{origin}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert f'aios_scorecard_started{{repo="{REPO}"}} 1.0' in text
    assert f'aios_scorecard_merged_share{{repo="{REPO}"}} 0.0' in text
    assert 'aios_scorecard_target{figure="merged_share"} 0.95' in text
    assert "aios_scorecard_label_to_pr_s{" not in text  # nothing to count: no sample
