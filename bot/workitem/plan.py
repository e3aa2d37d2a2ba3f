"""The CTO's decision as data: a plan of role tasks, or clarifying questions; validated, pure.

The same validation reads a model's answer (`bot.briefs.cto`) and a stored work item, so a
plan that was accepted once always loads again. Errors are `PlanFormatError`s whose message
names the field to fix: the CTO reads them and corrects itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.briefs.envelope import kind_of, unknown_keys

DEV_ROLES = ("backend", "frontend", "devops", "qa")
"""Roles a plan task may go to (the CTO plans, it does not take tasks)."""

MAX_TASKS, MAX_QUESTIONS, MAX_ITEMS, MAX_FILES, MAX_SETUP = 8, 5, 10, 20, 10
SUMMARY_CHARS, TITLE_CHARS, ITEM_CHARS, PATH_CHARS, COMMAND_CHARS = 2000, 200, 500, 300, 300
"""Caps on the CTO's output, so one plan cannot flood a comment or the next agents' prompts."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PIPE_TO_SHELL = re.compile(r"\|\s*(?:sudo\s+)?(?:/\S*/)?(?:ba|z|da|k)?sh\b")
"""`curl … | sh`: a script fetched and run unseen; no plan proposes it, approved or not."""

_NUMBERING = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")


class PlanFormatError(ValueError):
    """The CTO's answer does not follow the contract; the message is feedback for the model."""


@dataclass(frozen=True)
class PlanTask:
    role: str
    title: str
    acceptance: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProposedEnvironment:
    """Setup and test commands the CTO proposes (from the repository's guides or code) where
    nothing configured or detected covers them; they run only once a maintainer approved
    the plan that carries them."""

    setup: tuple[str, ...] = ()
    test: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"setup": list(self.setup), "test": self.test}


@dataclass(frozen=True)
class Plan:
    summary: str
    tasks: tuple[PlanTask, ...]
    risks: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    environment: ProposedEnvironment | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (lists, strings), e.g. for the stored work item in Redis."""
        return {
            "summary": self.summary,
            "tasks": [
                {
                    "role": t.role,
                    "title": t.title,
                    "acceptance": list(t.acceptance),
                    "files": list(t.files),
                }
                for t in self.tasks
            ],
            "risks": list(self.risks),
            "decisions": list(self.decisions),
            # Left out when there is none: a plan without it stores as it always did.
            **({"environment": self.environment.to_dict()} if self.environment else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Plan:
        """Validate and build; raises PlanFormatError naming the first bad field."""
        return plan_from_data(data, "plan")


@dataclass(frozen=True)
class Questions:
    questions: tuple[str, ...]


def no_extra_keys(data: Mapping[str, Any], where: str, allowed: Sequence[str]) -> None:
    """Raise PlanFormatError when `data` has keys the contract does not list."""
    extra = unknown_keys(data, allowed)
    if extra:
        raise PlanFormatError(f"{where} has unknown keys {extra}; allowed: {', '.join(allowed)}")


def _text(value: Any, path: str, limit: int, *, one_line: bool = False) -> str:
    if not isinstance(value, str):
        raise PlanFormatError(f"{path} must be a string, got {kind_of(value)}")
    text = value.strip()
    if not text:
        raise PlanFormatError(f"{path} must not be empty")
    if len(text) > limit:
        raise PlanFormatError(f"{path} is {len(text)} characters; keep it under {limit}")
    if one_line and ("\n" in text or "\r" in text):
        raise PlanFormatError(f"{path} must be one line")
    return text


def _texts(
    value: Any, path: str, limit: int, *, most: int, least: int = 0, one_line: bool = False
) -> tuple[str, ...]:
    if value is None and least == 0:
        return ()
    if not isinstance(value, list):
        raise PlanFormatError(f"{path} must be a list of strings, got {kind_of(value)}")
    if not least <= len(value) <= most:
        raise PlanFormatError(f"{path} must have {least} to {most} items, got {len(value)}")
    return tuple(
        _text(item, f"{path}[{i}]", limit, one_line=one_line) for i, item in enumerate(value)
    )


def questions_from_data(value: Any) -> Questions:
    """The CTO's questions, each checked and stripped of its own numbering."""
    items = _texts(value, "questions", ITEM_CHARS, most=MAX_QUESTIONS, least=1)
    # We number them ourselves; a model's own "1." would show twice.
    cleaned = tuple(_NUMBERING.sub("", q, count=1).strip() or q for q in items)
    return Questions(cleaned)


def plan_from_data(value: Any, path: str) -> Plan:
    """A plan from JSON data; `path` names it in errors (`plan`, `plan.tasks[0]` …)."""
    if not isinstance(value, dict):
        raise PlanFormatError(f"{path} must be an object, got {kind_of(value)}")
    no_extra_keys(value, path, ("summary", "tasks", "risks", "decisions", "environment"))
    summary = _text(value.get("summary"), f"{path}.summary", SUMMARY_CHARS)
    tasks = value.get("tasks")
    if not isinstance(tasks, list):
        raise PlanFormatError(f"{path}.tasks must be a list of task objects, got {kind_of(tasks)}")
    if not 1 <= len(tasks) <= MAX_TASKS:
        raise PlanFormatError(f"{path}.tasks must have 1 to {MAX_TASKS} tasks, got {len(tasks)}")
    return Plan(
        summary=summary,
        tasks=tuple(_task(task, f"{path}.tasks[{i}]") for i, task in enumerate(tasks)),
        risks=_texts(value.get("risks"), f"{path}.risks", ITEM_CHARS, most=MAX_ITEMS),
        decisions=_texts(value.get("decisions"), f"{path}.decisions", ITEM_CHARS, most=MAX_ITEMS),
        environment=environment_from_data(value.get("environment"), f"{path}.environment"),
    )


def _command(value: Any, path: str) -> str:
    command = _text(value, path, COMMAND_CHARS, one_line=True)
    if _CONTROL.search(command):
        raise PlanFormatError(f"{path} must be plain text, without control characters")
    if "`" in command:
        raise PlanFormatError(f"{path} must not contain backticks")
    if _PIPE_TO_SHELL.search(command):
        raise PlanFormatError(
            f"{path} pipes into a shell; never propose a command that downloads and runs a script"
        )
    return command


def environment_from_data(value: Any, path: str) -> ProposedEnvironment | None:
    """The plan's optional `environment` (`{"setup": [...], "test": "..."}`); None when absent
    or empty."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PlanFormatError(f"{path} must be an object, got {kind_of(value)}")
    no_extra_keys(value, path, ("setup", "test"))
    setup = value.get("setup")
    if setup is not None and not isinstance(setup, list):
        raise PlanFormatError(f"{path}.setup must be a list of commands, got {kind_of(setup)}")
    if setup is not None and len(setup) > MAX_SETUP:
        raise PlanFormatError(
            f"{path}.setup must have at most {MAX_SETUP} commands, got {len(setup)}"
        )
    commands = tuple(_command(c, f"{path}.setup[{i}]") for i, c in enumerate(setup or ()))
    test = value.get("test")
    test = None if test is None else _command(test, f"{path}.test")
    if not commands and test is None:
        return None
    return ProposedEnvironment(setup=commands, test=test)


def _task(value: Any, path: str) -> PlanTask:
    if not isinstance(value, dict):
        raise PlanFormatError(f"{path} must be an object, got {kind_of(value)}")
    no_extra_keys(value, path, ("role", "title", "acceptance", "files"))
    role = value.get("role")
    if not isinstance(role, str) or role.strip().lower() not in DEV_ROLES:
        got = repr(role[:40]) if isinstance(role, str) else kind_of(role)
        raise PlanFormatError(f"{path}.role must be one of {', '.join(DEV_ROLES)}; got {got}")
    files = _texts(value.get("files"), f"{path}.files", PATH_CHARS, most=MAX_FILES, one_line=True)
    for i, name in enumerate(files):
        if "`" in name:
            raise PlanFormatError(f"{path}.files[{i}] must be a plain path without backticks")
    return PlanTask(
        role=role.strip().lower(),
        title=_text(value.get("title"), f"{path}.title", TITLE_CHARS, one_line=True),
        acceptance=_texts(
            value.get("acceptance"), f"{path}.acceptance", ITEM_CHARS, most=MAX_ITEMS
        ),
        files=files,
    )
