"""The live progress comment and check run of a work item, rendered from a `ProgressView` (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.render.markdown import fit, format_cost, format_duration, format_tokens, neutralize
from bot.workitem.names import progress_marker
from bot.workitem.parts import EnvironmentReport

MAX_STEPS_SHOWN = 30
MAX_NOTES_SHOWN = 20
"""Older handoff notes beyond this many are left out of the comment."""

TITLE_CHARS, DETAIL_CHARS, NARRATION_CHARS, NOTE_CHARS, FAILURE_CHARS = 120, 200, 300, 1000, 1500
"""Caps on each piece of text (before escaping), so one long string cannot crowd out the rest."""

RETRY_HINT = "Next step: comment `/aios retry` to resume where it stopped, or `/aios cancel`."
BUDGET_HINT = (
    "Next step: comment `/aios budget +5` (any amount) to raise the budget and continue, "
    "or `/aios cancel`."
)

RESTARTING = "paused: AIOS is restarting"
"""The narration an agent leaves when AIOS shuts down under it; shown as the item's state
until the agent runs again (then its next narration replaces it)."""
RESTARTING_NOTE = (
    "stopped after its current step while AIOS restarts; it continues from there once AIOS "
    "is back, without repeating a step."
)

STOP_LABELS = {
    "failed": ("WARNING", "Stopped", "❌"),
    "paused": ("IMPORTANT", "Paused", "⏸️"),
    "cancelled": ("NOTE", "Cancelled", "⏹️"),
    "needs_human": ("WARNING", "Over to you", "⏳"),
}
"""Per kind of stop: the alert style, the banner's word and the mark of the step it stopped on."""


@dataclass(frozen=True)
class Persona:
    """Who an agent is on stage; the roster (bot/agents/roster.yml) supplies these."""

    name: str
    emoji: str
    role: str


@dataclass(frozen=True)
class Step:
    title: str
    done: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Note:
    """A line in an agent's voice: the current narration or a handoff note."""

    persona: Persona | None
    text: str


@dataclass(frozen=True)
class ProgressView:
    """Everything one picture of a work item's progress shows; all text is untrusted."""

    repo: str
    number: int
    state: str
    started_at: datetime
    now: datetime
    tokens: int = 0
    cost_usd: float = 0.0
    budget_usd: float | None = None
    team: tuple[Persona, ...] = ()
    steps: tuple[Step, ...] = ()
    narration: Note | None = None
    handoff_notes: tuple[Note, ...] = ()
    failure: str | None = None
    """Why the agents stopped (failed, paused, cancelled, or handed over); None: they work."""
    stop_kind: str = "failed"
    """A key of `STOP_LABELS`."""
    stop_hint: str = RETRY_HINT
    """The exact next step for a maintainer; "" when the banner's text already says it."""
    ignored_editors: tuple[str, ...] = ()
    """People without write access whose edits of the issue the agents do not follow."""
    mentions: frozenset[str] = frozenset()
    """Logins that may be @mentioned (lowercase compare); every other mention is defused."""
    environment: EnvironmentReport | None = None
    """What the workspace was set up with, the last test verdict, blocked egress."""
    operator_warnings: tuple[str, ...] = ()
    """About this AIOS rather than the item (AIOS's own text, e.g. commands run unisolated)."""


def _warnings(view: ProgressView) -> str:
    # AIOS's own text, not escaped: one line each, so it stays inside its alert.
    return "\n\n".join(
        f"> [!CAUTION]\n> {' '.join(text.split())}" for text in view.operator_warnings
    )


def _header(view: ProgressView) -> str:
    elapsed = (view.now - view.started_at).total_seconds()
    parts = [
        "🤖 **AIOS**",
        f"work item #{view.number}",
        f"**{neutralize(view.state, limit=40)}**",
        format_duration(elapsed),
        f"{format_tokens(view.tokens)} tokens",
        format_cost(view.cost_usd, view.budget_usd),
    ]
    return " · ".join(parts)


def _member(persona: Persona) -> str:
    if persona.name == persona.role:  # `progress.personas: false`: plain roles
        return neutralize(persona.role, limit=40)
    name = f"{neutralize(persona.emoji, limit=8)} {neutralize(persona.name, limit=40)}".strip()
    return f"{name} ({neutralize(persona.role, limit=40)})"


def _team(view: ProgressView) -> str:
    return "Team: " + " · ".join(_member(p) for p in view.team)


def _steps(view: ProgressView) -> list[str]:
    lines = []
    current = next((i for i, step in enumerate(view.steps) if not step.done), None)
    for i, step in enumerate(view.steps[:MAX_STEPS_SHOWN]):
        if step.done:
            mark = "✅"
        elif i == current:
            mark = STOP_LABELS[view.stop_kind][2] if view.failure is not None else "⏳"
        else:
            mark = "⬜"
        line = f"- {mark} {neutralize(step.title, mentions=view.mentions, limit=TITLE_CHARS)}"
        if step.detail.strip():
            detail = neutralize(step.detail, mentions=view.mentions, limit=DETAIL_CHARS)
            line += f" — {detail}"
        lines.append(line)
    hidden = len(view.steps) - MAX_STEPS_SHOWN
    if hidden > 0:
        lines.append(f"- … and {hidden} more steps")
    return lines


def _note(note: Note, view: ProgressView, limit: int) -> str:
    text = neutralize(note.text, mentions=view.mentions, limit=limit)
    if note.persona is None:
        return text
    emoji = neutralize(note.persona.emoji, limit=8)
    return f"{emoji} **{neutralize(note.persona.name, limit=40)}:** {text}".strip()


def _notes(view: ProgressView) -> list[str]:
    if not view.handoff_notes:
        return []
    shown = view.handoff_notes[-MAX_NOTES_SHOWN:]
    lines = [f"<details><summary>Handoff notes ({len(view.handoff_notes)})</summary>", ""]
    if len(shown) < len(view.handoff_notes):
        lines.append(f"- … {len(view.handoff_notes) - len(shown)} earlier notes left out")
    lines += [f"- {_note(note, view, NOTE_CHARS)}" for note in shown]
    return [*lines, "", "</details>"]


def _failure(view: ProgressView) -> str:
    return neutralize(view.failure or "", mentions=view.mentions, limit=FAILURE_CHARS)


def _ignored_edits(view: ProgressView) -> str:
    # Logins with their @ defused: a notice, not a ping for each edit.
    who = ", ".join(neutralize(f"@{login}", limit=60) for login in view.ignored_editors[:10])
    return (
        f"> ✏️ The issue was edited after the work started by {who}, without write access to "
        "the repository: the agents keep to the text as it was when the work was started "
        "(and to edits by people with write access)."
    )


def _environment(view: ProgressView, *, full: bool = True) -> list[str]:
    """The environment's lines; without `full`, the test verdict alone (the check run's
    summary)."""
    env = view.environment
    if env is None:
        return []
    lines = []
    if full and env.chosen:
        setup = f" · {neutralize(env.setup, limit=DETAIL_CHARS)}" if env.setup else ""
        lines.append(f"🧰 **Environment:** {neutralize(env.chosen, limit=NOTE_CHARS)}{setup}")
    if env.tests:
        mark = "✅" if env.tests_ok else "❌"
        lines.append(f"{mark} {neutralize(env.tests, limit=NOTE_CHARS)}")
    if full and env.blocked:
        hosts = ", ".join(neutralize(host, limit=80) for host in env.blocked[:10])
        lines.append(f"🚫 blocked: {hosts} (not in `environment.allow_hosts`)")
    if full:
        lines += [f"📝 {neutralize(note, limit=DETAIL_CHARS)}" for note in env.notes[:10]]
    return lines


def render_progress(view: ProgressView) -> str:
    """The whole progress comment body, marker first; at most `MAX_OUTPUT_BYTES`."""
    blocks = [f"{progress_marker(view.repo, view.number)}\n{_header(view)}"]
    if view.operator_warnings:
        blocks.append(_warnings(view))
    if view.team:
        blocks.append(_team(view))
    if view.failure is not None:
        style, word, _mark = STOP_LABELS[view.stop_kind]
        banner = f"> [!{style}]\n> **{word}:** {_failure(view)}"
        blocks.append(f"{banner}\n> {view.stop_hint}" if view.stop_hint else banner)
    if view.ignored_editors:
        blocks.append(_ignored_edits(view))
    if view.steps:
        blocks.append("\n".join(_steps(view)))
    if view.environment is not None:
        blocks.append("  \n".join(_environment(view)))
    if view.narration is not None and view.failure is None:
        blocks.append(f"> {_note(view.narration, view, NARRATION_CHARS)}")
    if view.handoff_notes:
        blocks.append("\n".join(_notes(view)))
    return fit("\n\n".join(blocks) + "\n")


def render_check_run(view: ProgressView) -> dict[str, str]:
    """The check run's `output` object: title, summary and text, each within GitHub's limits."""
    done = sum(step.done for step in view.steps)
    state = " ".join(view.state.split())[:40]
    title = f"{state} · {done} of {len(view.steps)} steps" if view.steps else state
    summary = [_header(view)]
    if view.operator_warnings:
        summary.append(_warnings(view))
    if view.failure is not None:
        word = STOP_LABELS[view.stop_kind][1]
        hint = f"\n\n{view.stop_hint}" if view.stop_hint else ""
        summary.append(f"⚠️ **{word}:** {_failure(view)}{hint}")
    elif view.narration is not None:
        summary.append(f"> {_note(view.narration, view, NARRATION_CHARS)}")
    summary += _environment(view, full=False)
    text = [_team(view)] if view.team else []
    if view.steps:
        text.append("\n".join(_steps(view)))
    if view.handoff_notes:
        text.append("\n".join(_notes(view)))
    return {
        "title": title,
        "summary": fit("\n\n".join(summary) + "\n"),
        "text": fit("\n\n".join(text) + "\n"),
    }


def superseded_output(new_head: str) -> dict[str, str]:
    """The check run of a head the pull request has moved past."""
    short = new_head[:7]
    return {
        "title": f"superseded by {short}",
        "summary": f"The pull request moved on to `{short}`; AIOS's picture is on that commit.\n",
        "text": "",
    }
