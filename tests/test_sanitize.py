"""Hidden text never reaches an agent: the corpus through the sanitiser and through every brief."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.agents import prompts
from bot.briefs.coder import role_task
from bot.briefs.cto import cto_task
from bot.briefs.fixer import fix_task
from bot.briefs.qa import qa_chunk_task
from bot.briefs.sanitize import reveal_invisible, strip_hidden
from bot.briefs.views import CommentView, IssueView
from bot.github.threads import ReviewThread, ThreadComment
from bot.review.chunks import Chunk
from bot.workitem.item import WorkItem
from bot.workitem.parts import FixRequest
from bot.workitem.plan import Plan, PlanTask

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus" / "hidden_text.yml").read_text())
HOSTILE: list[dict[str, Any]] = CORPUS["hostile"]
ORDINARY: list[str] = CORPUS["ordinary"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("sample", HOSTILE, ids=[s["name"] for s in HOSTILE])
def test_the_sanitiser_removes_what_a_reader_cannot_see(sample: dict[str, Any]) -> None:
    out = strip_hidden(sample["text"])
    for hidden in sample["hidden"]:
        assert hidden not in out, f"{hidden!r} survived in {out!r}"
    for shown in sample["shown"]:
        assert shown in out, f"{shown!r} lost from {out!r}"


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_survives_byte_for_byte(text: str) -> None:
    assert strip_hidden(text) == text


def test_the_corpus_covers_every_kind_of_hidden_text() -> None:
    names = " ".join(s["name"] for s in HOSTILE)
    for kind in ("html comment", "zero-width", "right-to-left", "left-to-right", "image alt",
                 "link titles", "img alt", "details"):  # fmt: skip
        assert kind in names


def _issue(text: str) -> IssueView:
    return IssueView("acme/app", 7, text, text, "mallory")


def _cto(text: str) -> str:
    comments = [CommentView("mallory", text, False), CommentView("alice", text, True)]
    return cto_task(_issue(text), comments, feedback=text)


def _coder(text: str) -> str:
    plan = Plan("Fix it.", (PlanTask("backend", "Fix the bug"),))
    return role_task(_issue(text), plan, 0, [])


def _fixer(text: str) -> str:
    item = WorkItem(
        repo="acme/app", number=7, installation_id=1, created_at=T0, updated_at=T0, title=text,
        branch="aios/7-x", pr_number=8,
    )  # fmt: skip
    thread = ReviewThread("T", "a.py", 1, False, 1, (ThreadComment("alice", False, text, False),))
    return fix_task(item, [thread], [FixRequest("alice", text)], "", text)


def _qa(text: str) -> str:
    chunk = Chunk("diff --git a/a b/a\n", ("a",), (), 1)
    return qa_chunk_task(chunk, 0, 1, title=text, description=text, skipped=[])


def _repository(text: str) -> str:
    return prompts.repo_context({"CLAUDE.md": text, "AGENTS.md": text}, [text], repo="acme/app")


BRIEFS: dict[str, Callable[[str], str]] = {
    "cto: issue, comments, feedback": _cto,
    "coder: issue": _coder,
    "fixer: title, threads, requests, QA notes": _fixer,
    "qa: pull request title and description": _qa,
    "repository instructions and memories": _repository,
}


@pytest.mark.parametrize("brief", sorted(BRIEFS))
@pytest.mark.parametrize("sample", HOSTILE, ids=[s["name"] for s in HOSTILE])
def test_every_brief_sanitises_every_human_text(brief: str, sample: dict[str, Any]) -> None:
    prompt = BRIEFS[brief](sample["text"])
    for hidden in sample["hidden"]:
        assert hidden not in prompt, f"{brief}: {hidden!r} reached the prompt"


def test_a_diff_under_review_shows_invisible_characters_instead_of_dropping_them() -> None:
    diff = (
        "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n"
        '+access = "user\u202e \u2066# admin\u2069 \u2066"\n'
    )
    chunk = Chunk(diff, ("a.py",), (), 10)
    prompt = qa_chunk_task(chunk, 0, 1, title="t", description="d", skipped=[])
    assert "\u202e" not in prompt and "<U+202E>" in prompt and "<U+2066>" in prompt
    assert reveal_invisible("plain") == "plain"
