"""The Control Center with real `aios serve` processes, the GitHub fake and the scripted model:
created once at install, items in the right sections, ticks that act only for maintainers,
found again after Redis forgets it, and a merged PR's review teaching the next agent."""

from __future__ import annotations

import json
import re
from typing import Any

import redis

from bot.testbed.github import FakeGitHub, app_events
from bot.testbed.github.state import Issue
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import SPEND_LIMIT, Turn, call, finish, qa_pass
from tests.serve_harness import REPO, Serve, wait_for

PLAN = {"plan": {"summary": "One part.", "tasks": [{"role": "backend", "title": "Do it"}]}}
LESSONS = {
    "memories": [
        {"text": "Database access goes through `repo/queries.py`, never raw SQL.", "source": 1},
        {"text": "Every public function gets a docstring.", "source": 2},
    ]
}


def centers(fake: FakeGitHub) -> list[Issue]:
    with fake.lock:
        return [
            issue
            for issue in fake.repo(REPO).issues.values()
            if (issue.body or "").startswith("<!-- aios:control-center -->")
            and issue.user == fake.bot_login
        ]


def center_body(fake: FakeGitHub) -> str:
    found = centers(fake)
    assert len(found) <= 1, f"{len(found)} Control Centers"
    return found[0].body or "" if found else ""


def section(body: str, title: str) -> str:
    if f"## {title}" not in body:
        return ""
    start = body.index(f"## {title}")
    end = body.find("\n## ", start + 1)
    return body[start : end if end != -1 else len(body)]


def progress(fake: FakeGitHub, number: int) -> str:
    marker = f"<!-- aios:progress item={REPO}#{number} -->"
    bodies = [c.body for c in fake.comments(REPO, number) if c.body.startswith(marker)]
    return bodies[0] if bodies else ""


def redis_of(serve: Serve) -> redis.Redis:
    """The embedded Redis `aios serve` started (its URL is in the log)."""
    url = re.search(r"url=(redis://127\.0\.0\.1:\d+/0)", serve.log.read_text())
    assert url, serve.log.read_text()
    return redis.Redis.from_url(url[1])


def test_install_sections_ticks_and_a_lost_cache_with_real_processes(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    fake, model = github_fake, scripted_model
    serve = start_serve(workers=1)
    fake.webhook_url = f"{serve.url}/webhook"

    # Installed: the Control Center exists before any work.
    fake.deliver("installation", app_events.installation_created(fake, [REPO]))
    wait_for(lambda: centers(fake), "the Control Center after the install", timeout=30)
    assert "| items started | 0 |" in center_body(fake)

    # Three work items in three states.
    model.script.append(SPEND_LIMIT)
    failed = fake.add_issue(REPO, "Upgrade the ORM").number
    fake.label_issue_as("alice", REPO, failed, "aios:backend")
    wait_for(lambda: f"retry #{failed}" in section(center_body(fake), "🛑 Stopped"), "the failure")
    model.script.append(finish(json.dumps(PLAN)))
    planned = fake.add_issue(REPO, "Paginate users").number
    fake.label_issue_as("alice", REPO, planned, "aios")
    wait_for(
        lambda: f"approve #{planned}" in section(center_body(fake), "⏳ Waiting for you"),
        "the plan waiting for approval",
    )
    model.script += [
        Turn("Starting.", [call("write_file", path="app.py", content="B = 1\n")]),
        Turn("Running the slow suite.", [call("run", command="sleep 600")]),
    ]
    busy = fake.add_issue(REPO, "Rate-limit logins").number
    fake.label_issue_as("alice", REPO, busy, "aios:backend")
    wait_for(
        lambda: f"cancel #{busy}" in section(center_body(fake), "🛠️ Working"),
        "the busy item working",
    )
    wait_for(lambda: len(model.requests) >= 4, "the busy agent mid-task")  # 1 + 1 + 2 turns
    body = center_body(fake)
    assert f"#{failed} Upgrade the ORM · failed in implementing" in section(body, "🛑 Stopped")
    assert f"#{planned} Paginate users · plan to approve" in section(body, "⏳ Waiting for you")
    assert f"#{busy} Rate-limit logins · implementing" in section(body, "🛠️ Working")
    assert "| items started | 3 |" in body
    (center,) = centers(fake)

    # bob may not steer: his tick is undone and nothing runs.
    asked = len(model.requests)
    fake.tick_as("bob", REPO, center.number, f"aios:tick retry #{failed}")
    wait_for(lambda: "- [x]" not in center_body(fake), "bob's tick undone")
    assert f"retry #{failed}" in section(center_body(fake), "🛑 Stopped")
    assert len(model.requests) == asked

    # alice may: the failed item is retried (its agent waits for the busy worker).
    fake.tick_as("alice", REPO, center.number, f"aios:tick retry #{failed}")
    wait_for(
        lambda: f"cancel #{failed}" in section(center_body(fake), "🛠️ Working"),
        "the retried item working",
    )
    assert "- [x]" not in center_body(fake)

    # Redis forgets the Control Center (and the App's name): found again, not duplicated.
    client = redis_of(serve)
    client.delete("aios:center:octo-org/hello", "aios:app:slug")
    fake.comment_as("alice", REPO, planned, "/aios remember Keep functions short.")
    wait_for(lambda: "Keep functions short." in center_body(fake), "the refresh after the loss")
    assert len(centers(fake)) == 1
    assert len(fake.calls("POST", r"/repos/octo-org/hello/issues$")) == 1


def test_a_merged_prs_review_teaches_the_next_agent_with_real_processes(
    github_fake: FakeGitHub, start_serve: Any, scripted_model: ScriptedModel
) -> None:
    fake, model = github_fake, scripted_model
    serve = start_serve(workers=1)
    fake.webhook_url = f"{serve.url}/webhook"
    model.script += [
        Turn("Writing the query.", [call("write_file", path="app.py", content="# q\n")]),
        finish("Added the query."),
        qa_pass(),
    ]
    issue = fake.add_issue(REPO, "Add the users query").number
    fake.label_issue_as("alice", REPO, issue, "aios:backend")
    wait_for(lambda: fake.pulls(REPO), "the pull request", timeout=60)
    (pr,) = fake.pulls(REPO)
    wait_for(lambda: fake.reviews(REPO, pr.number), "QA's review", timeout=60)

    model.script += [
        Turn("Fixing.", [call("write_file", path="app.py", content="# fixed\n")]),
        finish(json.dumps({"summary": "Moved it.", "replies": {"T1": "Moved.", "T2": "Added."}})),
        qa_pass(),
        finish(json.dumps(LESSONS)),  # the distiller, once the PR is merged
    ]
    fake.review_as(
        "alice",
        REPO,
        pr.number,
        "REQUEST_CHANGES",
        "Two things.",
        [
            {"path": "app.py", "line": 1, "side": "RIGHT", "body": "Use repo/queries.py here."},
            {"path": "app.py", "line": 1, "side": "RIGHT", "body": "Public functions need docs."},
        ],
    )
    wait_for(lambda: len(fake.reviews(REPO, pr.number)) >= 3, "QA's second review", timeout=60)
    wait_for(
        lambda: "awaiting approval" in progress(fake, issue), "the PR back with alice", timeout=60
    )
    fake.review_as("alice", REPO, pr.number, "APPROVE")
    wait_for(lambda: fake.pulls(REPO)[0].merged_at is not None, "the merge", timeout=60)

    def learned() -> str:
        return section(center_body(fake), "🧠 What the agents learned")

    wait_for(lambda: "Proposed from review feedback (2)" in learned(), "the proposals", timeout=60)
    links = re.findall(
        r"\]\((https://github\.com/octo-org/hello/pull/\d+#discussion_r\d+)\)", learned()
    )
    human = [c for c in fake.review_comments(REPO, pr.number) if c.user == "alice"]
    assert sorted(links) == sorted(
        f"https://github.com/{REPO}/pull/{pr.number}#discussion_r{c.id}" for c in human
    )
    distiller = model.requests[-1]
    assert distiller.model == "claude-haiku-5-5"
    assert "Public functions need docs." in json.dumps(distiller.body)

    (center,) = centers(fake)
    fake.tick_as("alice", REPO, center.number, "aios:tick accept m1")
    wait_for(lambda: "aios:tick forget m1" in learned(), "the accepted memory")

    model.script.append(finish(json.dumps({"questions": ["Which table?"]})))
    asked = len(model.requests)
    nxt = fake.add_issue(REPO, "Add the orders query").number
    fake.label_issue_as("alice", REPO, nxt, "aios")
    wait_for(lambda: len(model.requests) > asked, "the next agent's first request", timeout=60)
    prompt = json.dumps(model.requests[asked].body)
    assert "Database access goes through" in prompt
    assert "Every public function gets a docstring" not in prompt  # still only proposed
