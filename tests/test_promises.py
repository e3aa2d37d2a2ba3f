"""What AIOS promises a maintainer holds, through the whole pipeline in one process: every
`.github/aios.yml` key is honoured, budgets stop and pause, the merge counts every check, the
progress comment and check run tell the truth, and no job stops without a word."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config.schema import SCHEMA, leaf_keys
from bot.testbed import webhooks
from bot.testbed.github import app_events
from bot.testbed.turns import SPEND_LIMIT, Turn, call, finish, qa_pass
from bot.workitem.states import State
from tests.agent_harness import Team
from tests.serve_harness import REPO

BUDGET_COMMENT = f"<!-- aios:budget item={REPO}#"


def configure(team: Team, settings: dict[str, Any]) -> None:
    """`.github/aios.yml` on the default branch, as a maintainer would push it."""
    team.fake.push_as("alice", REPO, "main", {".github/aios.yml": yaml.safe_dump(settings)})


def one_task(summary: str = "Done.", path: str = "app.py") -> list[Turn]:
    """A coder's run that changes one file and finishes."""
    return [
        Turn("On it.", [call("write_file", path=path, content=f"# {summary}\n")]),
        finish(summary),
    ]


def plan(*roles: str) -> Turn:
    tasks = [{"role": role, "title": f"The {role} part"} for role in roles]
    return finish(json.dumps({"plan": {"summary": "Split by role.", "tasks": tasks}}))


def label(team: Team, title: str, name: str = "aios") -> int:
    issue = team.fake.add_issue(REPO, title, "Please.")
    team.fake.label_issue_as("alice", REPO, issue.number, name)
    team.drain()
    return issue.number


def say(team: Team, number: int, body: str, user: str = "alice") -> None:
    team.fake.comment_as(user, REPO, number, body)
    team.drain()


def models_asked(team: Team) -> list[str]:
    return [r.model for r in team.model.requests]


def first_prompt(team: Team, index: int) -> str:
    return json.dumps(team.model.requests[index].body)


# --- every key of .github/aios.yml --------------------------------------------------------

KEY_TESTS = {
    "agents.models.cto": "test_each_role_uses_its_model_and_the_plan_needs_no_approval",
    "agents.models.backend": "test_each_role_uses_its_model_and_the_plan_needs_no_approval",
    "agents.models.frontend": "test_each_role_uses_its_model_and_the_plan_needs_no_approval",
    "agents.models.devops": "test_each_role_uses_its_model_and_the_plan_needs_no_approval",
    "agents.models.qa": "test_each_role_uses_its_model_and_the_plan_needs_no_approval",
    "agents.models.triage": "test_each_role_uses_its_model_and_the_plan_needs_no_approval",
    "budgets.per_work_item_usd": "test_at_80_percent_the_item_pauses_and_budget_continues_it",
    "budgets.per_job_usd": "test_a_job_budget_stops_the_agent_mid_run",
    "budgets.per_month_usd": "test_a_month_budget_fails_the_item_with_what_would_help",
    "workflow.require_plan_approval": "test_a_plan_waits_for_approval_unless_the_setting_says",
    "workflow.require_independent_approval": "tests/test_e2e_merge.py (and merge policy tests)",
    "workflow.required_approvals": "test_a_failing_commit_status_blocks_a_merge_and_says_so",
    "workflow.merge_method": "test_a_green_required_status_from_a_ruleset_lets_the_merge_happen",
    "workflow.delete_branch_on_merge": (
        "test_a_green_required_status_from_a_ruleset_lets_the_merge_happen"
    ),
    "workflow.max_review_rounds": "tests/test_e2e_review_loop.py",
    "workflow.max_fix_rounds": "tests/test_e2e_review_loop.py",
    "workflow.max_ci_fix_attempts": "test_the_ci_fix_bound_comes_from_the_repository",
    "workflow.allow_workflow_edits": (
        "tests/test_e2e_untrusted.py (a repository that allows workflow edits), "
        "tests/test_push_guard.py, tests/test_agent_tools.py (workflow protection)"
    ),
    "workflow.protected_paths": (
        "tests/test_push_guard.py (protected paths refused at the push), "
        "tests/test_agent_tools.py (protected paths read-only in the write tools)"
    ),
    "workflow.review_fork_prs": "tests/test_handlers_pulls.py (fork pull requests)",
    "progress.min_edit_interval_s": "test_the_edit_interval_paces_the_narration",
    "progress.personas": "test_personas_off_shows_plain_roles",
    "paths.ignore_for_review": "tests/test_qa_review.py (skip patterns)",
    "control_center": (
        "tests/test_control_center.py::test_control_center_false_makes_no_issue_but_still_counts"
    ),
    "memory.auto_accept": (
        "tests/test_control_center.py::test_auto_accept_and_the_expiry_come_from_the_repository"
    ),
    "memory.expire_after_days": (
        "tests/test_control_center.py::test_auto_accept_and_the_expiry_come_from_the_repository"
    ),
    "environment.setup": (
        "tests/test_environment_promises.py::"
        "test_a_failing_setup_stops_the_item_showing_the_command_and_its_last_lines"
    ),
    "environment.test": (
        "tests/test_environment_promises.py::"
        "test_failing_tests_refuse_the_finish_and_the_verdict_is_shown_everywhere"
    ),
    "environment.allow_hosts": (
        "tests/test_e2e_environment.py::"
        "test_setup_from_a_loopback_index_tests_gate_the_finish_and_the_verdict_is_shown"
    ),
    "environment.network_during_run": (
        "tests/test_e2e_environment.py::"
        "test_setup_from_a_loopback_index_tests_gate_the_finish_and_the_verdict_is_shown"
    ),
    "environment.cache": (
        "tests/test_environment_promises.py::"
        "test_failing_tests_refuse_the_finish_and_the_verdict_is_shown_everywhere"
    ),
    "scorecard.human_cost_per_pr_usd": (
        "tests/test_control_center.py::"
        "test_the_scorecard_compares_cost_with_the_repositorys_human_cost"
    ),
}
"""Each `.github/aios.yml` key and the test that fails when it is ignored."""


def test_every_setting_has_a_test_that_pins_it() -> None:
    keys = {dotted for dotted, _ in leaf_keys(SCHEMA)}
    assert set(KEY_TESTS) == keys, "a setting without a test, or a test of a setting gone"
    here = globals()
    for key, where in KEY_TESTS.items():
        if where.startswith("test_"):
            assert where in here, f"{key}: {where} does not exist"
        elif "::" in where:
            path, _, name = where.partition("::")
            source = (Path(__file__).parent.parent / path).read_text()
            assert f"def {name}(" in source, f"{key}: {where} does not exist"


def test_each_role_uses_its_model_and_the_plan_needs_no_approval(team: Team) -> None:
    models = {role: f"m-{role}" for role in ("cto", "backend", "frontend", "devops", "qa")}
    configure(
        team,
        {
            "agents": {"models": {**models, "triage": "m-triage"}},
            "workflow": {"require_plan_approval": False},
        },
    )
    team.model.script.append(finish(json.dumps({"questions": ["Which page size?"]})))
    number = label(team, "Paginate users")
    team.model.script += [
        plan("backend", "frontend", "devops"),
        *one_task("Backend done."),
        finish("Frontend done."),
        finish("DevOps done."),
        qa_pass(),
    ]
    say(team, number, "Fifty.")
    assert models_asked(team) == [
        "m-triage",  # the CTO's first read of the issue
        "m-cto",  # planning after the answer
        "m-backend",
        "m-backend",
        "m-frontend",
        "m-devops",
        "m-qa",
    ]
    item = team.item(number)
    assert item.state is State.AWAITING_APPROVAL and item.planning.approved_by is None


def test_a_plan_waits_for_approval_unless_the_setting_says(team: Team) -> None:
    team.model.script.append(plan("backend"))
    number = label(team, "Needs a plan")
    item = team.item(number)
    assert item.state is State.AWAITING_PLAN_APPROVAL
    assert len(team.model.requests) == 1  # no agent started before the approval
    (plan_comment,) = team.comments(number, f"<!-- aios:plan item={REPO}#{number}")
    assert "- [ ] Approve this plan" in plan_comment.body


def test_memories_reach_every_agent_and_each_handoff_reaches_the_next(team: Team) -> None:
    configure(team, {"workflow": {"require_plan_approval": False}})
    say(team, team.fake.add_issue(REPO, "Notes").number, "/aios remember Use tabs, never spaces.")
    team.model.script += [
        plan("backend", "frontend"),
        *one_task("Backend: the cursor is in `next`."),
        finish("Frontend done."),
        qa_pass(),
    ]
    label(team, "Two parts")
    assert all("Use tabs, never spaces." in first_prompt(team, i) for i in range(4))
    assert "Backend: the cursor is in `next`." in first_prompt(team, 3)  # the frontend's task


def test_the_cost_shows_in_the_progress_comment_and_aios_cost(team: Team) -> None:
    team.model.script += [*one_task(), qa_pass()]
    number = label(team, "Costly", "aios:backend")
    item = team.item(number)
    assert item.cost_usd > 0
    header = team.progress(number).splitlines()[1]
    assert "$0.00" not in header and "of $5.00" in header
    comment = team.fake.comment_as("alice", REPO, number, "/aios cost")
    team.drain()
    (reply,) = team.comments(number, f"<!-- aios:reply comment={comment.id} line=1")
    assert "**This work item:**" in reply.body and "of $5.00" in reply.body
    assert "**This repository this month:**" in reply.body


# --- budgets ---------------------------------------------------------------------------------


def test_at_80_percent_the_item_pauses_and_budget_continues_it(team: Team) -> None:
    # The scripted model's two calls cost $0.0043 and $0.0003: the second still runs under
    # $0.005, and together they pass 80 % of it, so the QA review must not start.
    configure(team, {"budgets": {"per_work_item_usd": 0.005}})
    team.model.script += one_task()
    number = label(team, "Small budget", "aios:backend")
    item = team.item(number)
    assert item.state is State.PAUSED and item.stopped_in is State.IN_REVIEW
    assert len(team.model.requests) == 2  # the QA review did not start
    progress = team.progress(number)
    assert "**Paused:**" in progress and "⏸️" in progress and "/aios budget +5" in progress
    (ask,) = team.comments(number, f"{BUDGET_COMMENT}{number}")
    assert "@alice" in ask.body and "claude-" in ask.body and "/aios cancel" in ask.body
    (run,) = team.fake.check_runs(REPO)
    assert run.conclusion == "action_required"

    team.model.script.append(qa_pass())
    comment = team.fake.comment_as("alice", REPO, number, "/aios budget +1")
    team.drain()
    (reply,) = team.comments(number, f"<!-- aios:reply comment={comment.id} line=1")
    assert "→ $1.00" in reply.body and "spent so far <$0.01" in reply.body
    assert "continue" in reply.body
    item = team.item(number)
    assert item.state is State.AWAITING_APPROVAL and item.settings.budget_usd == 1.005


def test_a_job_budget_stops_the_agent_mid_run(team: Team) -> None:
    configure(team, {"budgets": {"per_job_usd": 0.001}})
    team.model.script += one_task()
    number = label(team, "Tiny job budget", "aios:backend")
    item = team.item(number)
    assert item.state is State.PAUSED and len(team.model.requests) == 1
    assert "per-job budget" in (item.failure or "")
    assert "budget reached" not in team.progress(number).splitlines()[1]  # $5 item budget


def test_a_month_budget_fails_the_item_with_what_would_help(team: Team) -> None:
    configure(team, {"budgets": {"per_month_usd": 0.001}})
    team.model.script += [*one_task(), *one_task()]
    label(team, "First", "aios:backend")  # spends this month's budget
    number = label(team, "Second", "aios:backend")
    item = team.item(number)
    assert item.state is State.FAILED
    assert "monthly repository" in (item.failure or "")
    assert "budgets.per_month_usd" in team.progress(number)


def test_a_budget_above_the_operators_ceiling_is_lowered_and_said(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOS_BUDGET_WORK_ITEM_USD", "1")
    configure(team, {"budgets": {"per_work_item_usd": 50}})
    team.model.script.append(finish(json.dumps({"questions": ["Why?"]})))
    number = label(team, "Big budget")
    assert team.item(number).settings.budget_usd == 1.0
    (note,) = team.comments(number, f"<!-- aios:config-problems item={REPO}#{number}")
    assert "`budgets.per_work_item_usd`" in note.body and "AIOS_BUDGET_WORK_ITEM_USD" in note.body


# --- settings shown --------------------------------------------------------------------------


def test_personas_off_shows_plain_roles(team: Team) -> None:
    configure(team, {"progress": {"personas": False}})
    team.model.script += [*one_task(), qa_pass()]
    number = label(team, "Plain", "aios:backend")
    progress = team.progress(number)
    assert "Team: Backend" in progress and "Bea" not in progress and "Quinn" not in progress
    (commit, *_) = team.fake.commits(REPO, team.item(number).branch or "")
    assert "AIOS-Agent: Backend" in commit.message


def test_the_edit_interval_paces_the_narration(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.jobs.agent_run as agent_run

    intervals: list[float] = []
    real = agent_run.PacedWriter

    def recording(write: Any, *, min_interval_s: float, **kwargs: Any) -> Any:
        intervals.append(min_interval_s)
        return real(write, min_interval_s=min_interval_s, **kwargs)

    monkeypatch.setattr(agent_run, "PacedWriter", recording)
    configure(team, {"progress": {"min_edit_interval_s": 42}})
    team.model.script += [*one_task(), qa_pass()]
    label(team, "Paced", "aios:backend")
    assert intervals and set(intervals) == {42.0}


# --- the loop's bounds and CI ------------------------------------------------------------------


def ci_fails(team: Team, sha: str, message: str) -> None:
    team.fake.ci_result(REPO, sha, conclusion="failure", summary=message)
    team.drain()


def test_the_ci_fix_bound_comes_from_the_repository(team: Team) -> None:
    configure(team, {"workflow": {"max_ci_fix_attempts": 1}})
    team.model.script += [*one_task(), qa_pass()]
    number = label(team, "Flaky", "aios:backend")
    first_head = team.item(number).pr.head_sha or ""
    team.model.script += [*one_task("Fixed the test.", "test_app.py"), qa_pass()]
    ci_fails(team, first_head, "1 failed: test_one")
    item = team.item(number)
    second_head = item.pr.head_sha or ""
    assert item.ci_fix_attempts == 1 and second_head != first_head
    ci_fails(team, second_head, "1 failed: test_two")  # a new failure, but no attempt left
    item = team.item(number)
    assert item.state is State.AWAITING_APPROVAL and item.ci_fix_attempts == 1
    assert "max_ci_fix_attempts" in (item.needs_human or "")
    runs = {run.head_sha: run for run in team.fake.check_runs(REPO) if run.name == "AIOS"}
    assert runs[second_head].conclusion == "action_required"  # a stopped loop asks for action
    assert runs[first_head].conclusion == "neutral"  # the superseded head's run is closed
    assert runs[first_head].title == f"superseded by {second_head[:7]}"


# --- the merge ---------------------------------------------------------------------------------


def status_event(team: Team, sha: str, branch: str, context: str, state: str) -> None:
    team.fake.set_status(REPO, sha, context, state, description=f"{context} {state}")
    payload = app_events.aim(webhooks.example("status"), team.fake, REPO, None)
    listed = {**(payload["branches"] or [{}])[0], "name": branch, "commit": {"sha": sha}}
    payload.update(sha=sha, state=state, context=context, branches=[listed])
    team.fake.deliver("status", payload)
    team.drain()


def agent_pr(team: Team, title: str) -> tuple[int, Any]:
    team.model.script += [*one_task(), qa_pass()]
    number = label(team, title, "aios:backend")
    (pr,) = team.fake.pulls(REPO)
    return number, pr


def test_a_failing_commit_status_blocks_a_merge_and_says_so(team: Team) -> None:
    number, pr = agent_pr(team, "Status check")
    # No webhook: the failure would start a CI fix; the merge must see it all the same.
    team.fake.set_status(REPO, pr.head_sha, "ci/jenkins", "failure")
    team.fake.review_as("alice", REPO, pr.number, "APPROVE")
    team.drain()
    assert team.fake.pulls(REPO)[0].merged_at is None
    (blocked,) = team.comments(pr.number, f"<!-- aios:merge-blocked item={REPO}#{number}")
    assert "the commit status `ci/jenkins` ended with failure" in blocked.body
    item = team.item(number)
    assert item.state is State.AWAITING_APPROVAL and "ci/jenkins" in (item.needs_human or "")
    (run,) = [r for r in team.fake.check_runs(REPO) if r.head_sha == pr.head_sha]
    assert run.conclusion == "action_required"


def test_a_green_required_status_from_a_ruleset_lets_the_merge_happen(team: Team) -> None:
    number, pr = agent_pr(team, "Ruleset check")
    team.fake.set_required_checks(REPO, "main", ["ci/jenkins"], ruleset=True)
    team.fake.review_as("alice", REPO, pr.number, "APPROVE")
    team.drain()
    item = team.item(number)
    # Required by the ruleset and not reported yet: the merge waits for it.
    assert item.state is State.AWAITING_APPROVAL and item.pr.merge_waiting
    assert team.fake.pulls(REPO)[0].merged_at is None
    status_event(team, pr.head_sha, pr.head, "ci/jenkins", "success")
    assert team.item(number).state is State.MERGED
    (merged,) = team.fake.pulls(REPO)
    assert merged.merged_at is not None and pr.head not in team.fake.branches(REPO)


# --- the truth of the picture ------------------------------------------------------------------


def test_a_failed_triage_is_marked_where_it_failed(team: Team) -> None:
    team.model.script.append(SPEND_LIMIT)
    number = label(team, "Triage fails")
    lines = team.progress(number).splitlines()
    assert "- ❌ Triage and plan" in lines
    assert "- ⬜ Plan approval" in lines
    assert team.item(number).stopped_in is State.TRIAGE


def test_a_cancelled_item_says_so_and_by_whom(team: Team) -> None:
    team.model.script.append(finish(json.dumps({"questions": ["Which one?"]})))
    number = label(team, "Cancel me")
    say(team, number, "/aios cancel")
    progress = team.progress(number)
    assert "**Cancelled:**" in progress and "by @" in progress and "alice" in progress
    assert "⏳" not in progress and "\n> 🧭" not in progress  # no narration, nothing running
    assert "/aios retry" not in progress


# --- no silent stops ---------------------------------------------------------------------------


def test_an_agent_that_changes_nothing_fails_with_what_would_help(team: Team) -> None:
    team.model.script.append(finish("I looked; nothing needs to change."))
    number = label(team, "Nothing to do", "aios:backend")
    item = team.item(number)
    assert item.state is State.FAILED and team.fake.pulls(REPO) == []
    progress = team.progress(number)
    assert "without changing any file" in progress and "nothing needs to change" in progress
    assert "say in a comment what should change" in progress


def test_a_refused_pull_request_fails_the_item_with_githubs_words(team: Team) -> None:
    team.model.script += one_task()
    team.fake.fail_next("POST", r"/repos/octo-org/hello/pulls$", 422, times=4)
    number = label(team, "Refused", "aios:backend")
    item = team.item(number)
    assert item.state is State.FAILED and item.stopped_in is State.VERIFYING
    assert "GitHub refused to open the pull request" in team.progress(number)


def test_no_model_key_fails_the_item_and_says_which(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    number = label(team, "Keyless", "aios:backend")
    item = team.item(number)
    assert item.state is State.FAILED and team.model.requests == []
    progress = team.progress(number)
    assert "ANTHROPIC\\_API\\_KEY" in progress and "give the workers a model key" in progress


def test_aios_qa_on_an_issue_reviews_the_pull_request_that_fixes_it_or_says_why_not(
    team: Team,
) -> None:
    number = label(team, "Review please", "aios:qa")
    (refusal,) = team.comments(number, "<!-- aios:reply comment=0 line=0")
    assert "`aios:backend`" in refusal.body and "no open pull request fixes" in refusal.body
    assert team.model.requests == []

    head = team.fake.push_as("alice", REPO, "fix-it", {"app.py": "FIXED = 1\n"})
    team.fake.open_pull_as("alice", REPO, "fix-it", "main", "Fix it", body=f"Fixes #{number}")
    team.model.script.append(qa_pass())
    team.fake.label_issue_as("alice", REPO, number, "aios:qa")
    team.drain()
    (answer,) = team.comments(number, "<!-- aios:reply comment=0 line=0")
    assert "reviewed" in answer.body
    reviews = team.fake.reviews(REPO, team.fake.pulls(REPO)[0].number)
    assert len(reviews) == 1 and reviews[0].commit_id == head
