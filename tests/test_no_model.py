"""A labeled issue on workers without a model key: one comment that names the setting and how
to set it, no `/aios retry` (it cannot help until the operator acts), no traceback logged."""

from __future__ import annotations

import logging

import pytest

from bot.workitem.states import State
from tests.agent_harness import Team
from tests.serve_harness import REPO

PROGRESS = f"<!-- aios:progress item={REPO}#"


@pytest.mark.parametrize("label", ["aios", "aios:backend"])
def test_no_model_key_says_which_setting_once_without_retry_or_traceback(
    team: Team,
    label: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    caplog.set_level(logging.DEBUG)
    issue = team.fake.add_issue(REPO, "Keyless", "Please.")
    team.fake.label_issue_as("alice", REPO, issue.number, label)
    team.drain()

    captured = capfd.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "Traceback" not in logged
    item = team.item(issue.number)
    assert item.state is State.FAILED and team.model.requests == []
    bot_comments = [
        c for c in team.fake.comments(REPO, issue.number) if c.user == team.fake.bot_login
    ]
    (comment,) = bot_comments
    assert comment.body.startswith(PROGRESS)
    assert "ANTHROPIC\\_API\\_KEY" in comment.body
    assert "retry" not in comment.body.lower()
    assert team.failed_jobs() == []
