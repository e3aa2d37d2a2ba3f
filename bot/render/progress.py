"""The live progress comment and check run of a work item, and the pacing of their edits.

Rendering and `Pacer` are pure; `PacedWriter` is the small asyncio driver that sleeps
(through an injected `sleep`) and calls an injected `write`.
"""

from __future__ import annotations

import asyncio
import enum
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import structlog

log = structlog.get_logger(__name__)

DEFAULT_MIN_INTERVAL_S = 3.0
"""Least time between two edits of one comment: human pacing, and GitHub's secondary limits."""

MAX_OUTPUT_BYTES = 65535
"""GitHub caps a comment body and a check run's summary and text at 65535 characters;
counting UTF-8 bytes stays under that however GitHub counts."""

MAX_STEPS_SHOWN = 30
MAX_NOTES_SHOWN = 20
"""Older handoff notes beyond this many are left out of the comment."""

TITLE_CHARS, DETAIL_CHARS, NARRATION_CHARS, NOTE_CHARS, FAILURE_CHARS = 120, 200, 300, 1000, 1500
"""Caps on each piece of text (before escaping), so one long string cannot crowd out the rest."""

RETRY_HINT = "Next step: comment `/aios retry` to resume where it stopped, or `/aios cancel`."

_MARKER = "<!-- aios:progress item={repo}#{number} -->"
_MARKER_RE = re.compile(
    r"<!-- aios:progress item=(?P<repo>[A-Za-z0-9-]+/[A-Za-z0-9._-]+)#(?P<number>[1-9][0-9]*) -->"
)
_REPO_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_MENTION = re.compile(r"@(?=[A-Za-z0-9])([A-Za-z0-9-]*)(/?)")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~$])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ZWJ = "\u200d"


def progress_marker(repo: str, number: int) -> str:
    """The hidden first line of the progress comment of work item `repo#number`."""
    if not _REPO_RE.fullmatch(repo):
        raise ValueError(f"repo must be 'owner/name', got {repo!r}")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"number must be a positive integer, got {number!r}")
    return _MARKER.format(repo=repo, number=number)


def find_marker(body: str | None) -> tuple[str, int] | None:
    """`(repo, number)` of the progress comment `body`, or None if it is not one.

    Only a marker opening the body counts. Text AIOS renders can never carry one (it is
    escaped), but anyone can paste one into their own comment: also check the author.
    """
    match = _MARKER_RE.match(body or "")
    return (match["repo"], int(match["number"])) if match else None


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
    mentions: frozenset[str] = frozenset()
    """Logins that may be @mentioned (lowercase compare); every other mention is defused."""


def neutralize(text: str, *, mentions: Iterable[str] = (), limit: int | None = None) -> str:
    """Untrusted text as one line of inert Markdown: no HTML, no mentions, no layout.

    Inline code spans are kept (re-fenced so they cannot swallow what follows); all
    other Markdown punctuation is escaped. At most `limit` characters of `text` are kept.
    """
    text = " ".join(_INVISIBLE.sub("", text).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    allowed = {m.lower() for m in mentions}
    out: list[str] = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape_plain(text[position : match.start()], allowed))
        out.append(_code_span(match[2]))
        position = match.end()
    out.append(_escape_plain(text[position:], allowed))
    return "".join(out)


def _escape_plain(text: str, allowed: set[str]) -> str:
    def defuse(match: re.Match[str]) -> str:
        login, team = match[1], match[2]
        if login.lower() in allowed and not team:
            return match[0]
        return f"@{_ZWJ}{login}{team}"

    text = _MENTION.sub(defuse, text)
    text = "".join(_HTML.get(char, char) for char in text)
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def _code_span(content: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    # The progress marker must stay the body's only one, even quoted inside code.
    return f"{fence}{content.replace('<!--', '<' + _ZWJ + '!--')}{fence}"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def format_tokens(tokens: int) -> str:
    if tokens < 1000:
        return str(max(0, tokens))
    if tokens < 10_000:
        return f"{tokens / 1000:.1f}k"
    if round(tokens / 1000) < 1000:
        return f"{round(tokens / 1000)}k"
    return f"{tokens / 1_000_000:.1f}M"


def format_cost(cost_usd: float, budget_usd: float | None) -> str:
    if budget_usd is None:
        return f"${cost_usd:.2f}"
    over = " (budget reached)" if cost_usd >= budget_usd else ""
    return f"${cost_usd:.2f} of ${budget_usd:.2f}{over}"


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
            mark = "❌" if view.failure else "⏳"
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


def render_progress(view: ProgressView) -> str:
    """The whole progress comment body, marker first; at most `MAX_OUTPUT_BYTES`."""
    blocks = [f"{progress_marker(view.repo, view.number)}\n{_header(view)}"]
    if view.team:
        blocks.append(_team(view))
    if view.failure is not None:
        blocks.append(f"> [!WARNING]\n> **Stopped:** {_failure(view)}\n> {RETRY_HINT}")
    if view.steps:
        blocks.append("\n".join(_steps(view)))
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
    if view.failure is not None:
        summary.append(f"⚠️ **Stopped:** {_failure(view)}\n\n{RETRY_HINT}")
    elif view.narration is not None:
        summary.append(f"> {_note(view.narration, view, NARRATION_CHARS)}")
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


def _size(text: str) -> int:
    return len(text.encode())


def fit(markdown: str, limit: int = MAX_OUTPUT_BYTES) -> str:
    """`markdown` cut at a line boundary to at most `limit` UTF-8 bytes, still well formed."""
    if _size(markdown) <= limit:
        return markdown
    tail, close = "\n\n…(truncated)\n", "\n\n</details>"
    kept: list[str] = []
    size = _size(tail) + _size(close)
    for line in markdown.split("\n"):
        size += _size(line) + 1
        if size > limit:
            break
        kept.append(line)
    body = "\n".join(kept)
    if body.count("<details>") > body.count("</details>"):
        body += close
    return body + tail


class Action(enum.StrEnum):
    WRITE = "write"
    """Write `Decision.body` now, then report `Pacer.written` or `Pacer.failed`."""
    SCHEDULE = "schedule"
    """A body is pending; poll again at `Decision.at` (or when the write in flight ends)."""
    SKIP = "skip"
    """Nothing to write: identical, after a final body, or nothing pending."""


@dataclass(frozen=True)
class Decision:
    action: Action
    at: float
    body: str | None = None
    superseded: bool = False
    """An older pending body was dropped in favour of this offer."""
    reason: str = ""


class Pacer:
    """Paces the edits of one comment: at most one per `min_interval_s`, latest body wins.

    One write at a time: a WRITE decision puts its body in flight until the caller
    reports `written(body)` or `failed(body)` (then it is pending again). A `final`
    body is never dropped: it waits for the next slot like any other, and non-final
    bodies offered after it are skipped.
    """

    def __init__(
        self, *, clock: Callable[[], float], min_interval_s: float = DEFAULT_MIN_INTERVAL_S
    ) -> None:
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be 0 or more, got {min_interval_s}")
        self._clock = clock
        self._interval = min_interval_s
        self._shown: str | None = None
        """The body on GitHub (or in flight to it)."""
        self._started_at: float | None = None
        self._in_flight: str | None = None
        self._pending: str | None = None
        self._final = False

    @property
    def pending(self) -> str | None:
        return self._pending

    @property
    def in_flight(self) -> str | None:
        return self._in_flight

    @property
    def next_slot(self) -> float:
        """The earliest time the next write may start."""
        if self._started_at is None:
            return self._clock()
        return self._started_at + self._interval

    def offer(self, body: str, *, final: bool = False) -> Decision:
        """A new picture of the comment; returns whether to write it now or later."""
        if self._final and not final:
            return Decision(Action.SKIP, self._clock(), reason="a final body was already given")
        self._final = self._final or final
        if body == self._pending:
            return self.poll()
        superseded = self._pending is not None
        if body == self._shown:
            self._pending = None
            return Decision(
                Action.SKIP, self._clock(), superseded=superseded, reason="already written"
            )
        self._pending = body
        decision = self.poll()
        return Decision(decision.action, decision.at, decision.body, superseded, decision.reason)

    def poll(self) -> Decision:
        """What to do about the pending body now: WRITE it, or SCHEDULE a later poll."""
        now = self._clock()
        if self._pending is None:
            return Decision(Action.SKIP, now, reason="nothing pending")
        if self._in_flight is not None:
            return Decision(Action.SCHEDULE, self.next_slot, reason="a write is in flight")
        if self.next_slot > now:
            return Decision(Action.SCHEDULE, self.next_slot, reason="waiting for the next slot")
        body, self._pending = self._pending, None
        self._shown = self._in_flight = body
        self._started_at = now
        return Decision(Action.WRITE, now, body)

    def written(self, body: str) -> None:
        """The write of `body` succeeded."""
        if self._in_flight == body:
            self._in_flight = None

    def failed(self, body: str) -> None:
        """The write of `body` did not happen: it is pending again unless a newer body is."""
        if self._in_flight == body:
            self._in_flight = None
        if self._shown == body:
            self._shown = None
        if self._pending is None:
            self._pending = body


class PacedWriter:
    """Drives a `Pacer` with asyncio: `update` returns at once, writes happen in a task.

    `finish(body)` offers the final body and returns once it is written, raising what
    the last write raised if it could not be.
    """

    def __init__(
        self,
        write: Callable[[str], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
    ) -> None:
        self._write = write
        self._clock = clock
        self._sleep = sleep
        self.pacer = Pacer(clock=clock, min_interval_s=min_interval_s)
        self._task: asyncio.Task[None] | None = None
        self._error: Exception | None = None
        self.writes = 0

    def update(self, body: str) -> Decision:
        """Offer a new picture; never waits (the write, now or later, runs in a task)."""
        return self._start(self.pacer.offer(body))

    async def finish(self, body: str) -> None:
        """Offer the final picture and wait until it is on GitHub."""
        self._start(self.pacer.offer(body, final=True))
        await self.flush()

    async def flush(self) -> None:
        """Wait until nothing is pending; raise the write error that left something pending."""
        while not self.idle:
            assert self._task is not None
            await asyncio.wait({self._task})
        if self.pacer.pending is not None and self._error is not None:
            raise self._error

    async def aclose(self) -> None:
        """Stop without writing what is pending (use `finish` to write the last picture)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})

    @property
    def idle(self) -> bool:
        return self._task is None or self._task.done()

    def _start(self, decision: Decision) -> Decision:
        if decision.action is Action.WRITE:
            # Only a drain task asleep can be running now (a write in flight blocks WRITE);
            # its wake-up is due already, so replace it with one that writes at once.
            if not self.idle:
                assert self._task is not None
                self._task.cancel()
            self._task = asyncio.create_task(self._drain(decision))
        elif self.pacer.pending is not None and self.idle:
            self._task = asyncio.create_task(self._drain(None))
        return decision

    async def _drain(self, decision: Decision | None) -> None:
        self._error = None
        while True:
            decision = decision or self.pacer.poll()
            if decision.action is Action.SKIP:
                return
            if decision.action is Action.SCHEDULE:
                await self._sleep(max(0.0, decision.at - self._clock()))
            else:
                assert decision.body is not None
                try:
                    await self._write(decision.body)
                except Exception as exc:
                    # Pending again: the next update or finish tries again at its slot.
                    self.pacer.failed(decision.body)
                    self._error = exc
                    log.warning("progress write failed", error=type(exc).__name__)
                    return
                self.pacer.written(decision.body)
                self.writes += 1
            decision = None
