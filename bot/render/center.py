"""The Control Center issue's body, rendered from a `CenterView` (pure).

Every line is a link (`#12` links itself on GitHub) with its state, age, agents and cost.
Boxes carry a hidden `<!-- aios:tick <action> <target> -->` after them, so an edit that ticks
one says exactly what it asks for; the body is rendered afresh on every refresh, so ticks
never survive one (acted on, or undone when the person may not steer).
"""

from __future__ import annotations

import math

from bot.render.center_view import CenterView, ItemLine, MemoryLine
from bot.render.markdown import fit, format_duration, format_usd, neutralize
from bot.render.scorecard import scorecard_rows
from bot.workitem.names import CONTROL_CENTER_MARKER, tick_marker
from bot.workitem.scorecard import Scorecard

MAX_LINES_PER_SECTION = 40
"""Beyond this many lines a section says how many more there are."""
TITLE_CHARS, DETAIL_CHARS, MEMORY_CHARS = 80, 240, 500

ACTION_WORDS = {
    "approve": "approve plan",
    "retry": "retry",
    "cancel": "cancel",
    "accept": "accept",
    "forget": "forget",
}


def _team(line: ItemLine) -> str:
    return ", ".join(f"{p.emoji} {p.name}".strip() for p in line.team)


def _box(action: str | None, target: str) -> str:
    if action is None:
        return "- "
    return f"- [ ] {tick_marker(action, target)} **{ACTION_WORDS[action]}** · "


def _item(line: ItemLine, age: str) -> str:
    title = neutralize(line.title, limit=TITLE_CHARS)
    parts = [
        f"#{line.number} {title}",
        neutralize(line.what),
        age.format(format_duration(line.age_s)),
        _team(line),
        format_usd(line.cost_usd),
    ]
    text = _box(line.action, f"#{line.number}") + " · ".join(p for p in parts if p)
    if line.detail:
        text += f" — {neutralize(line.detail, limit=DETAIL_CHARS)}"
    return text


def _section(title: str, lines: tuple[ItemLine, ...], empty: str, age: str) -> list[str]:
    """A section of items; `age` words how long each has been so (`for {}`, `{} ago`)."""
    out = [f"## {title} ({len(lines)})", ""]
    if not lines:
        return [*out, f"_{empty}_", ""]
    out += [_item(line, age) for line in lines[:MAX_LINES_PER_SECTION]]
    if len(lines) > MAX_LINES_PER_SECTION:
        out.append(f"- … and {len(lines) - MAX_LINES_PER_SECTION} more")
    return [*out, ""]


def _scorecard(card: Scorecard) -> list[str]:
    days = round((card.until - card.since).total_seconds() / 86400)
    rows = [f"| {name} | {value} | {target} |" for name, value, target in scorecard_rows(card)]
    return [
        f"## 📊 Scorecard (last {days} days)",
        "",
        f"| | last {days} days | target |",
        "| --- | --- | --- |",
        *rows,
        "",
    ]


def _budget(view: CenterView) -> list[str]:
    b = view.budget
    installation = format_usd(b.installation_spent_usd)
    if b.installation_budget_usd:
        share = b.installation_spent_usd / b.installation_budget_usd
        installation += f" of {format_usd(b.installation_budget_usd)} ({share:.0%})"
    repo = format_usd(b.repo_spent_usd)
    if b.repo_budget_usd:
        repo += f" of {format_usd(b.repo_budget_usd)}"
    out = [
        "## 💰 Budget",
        "",
        f"This month ({b.month}): **{installation}** for the installation · this repository "
        f"{repo}.",
    ]
    if b.most_expensive:
        top = " · ".join(
            f"#{n} {neutralize(title, limit=40)} {format_usd(cost)}"
            for n, title, cost in b.most_expensive
        )
        out.append(f"Most expensive items (30 days): {top}")
    return [*out, ""]


def _days(seconds: float) -> str:
    """A time to come: whole days (rounded up) beyond one day, finer below."""
    seconds = max(0.0, seconds)
    return f"{math.ceil(seconds / 86400)} d" if seconds > 86400 else format_duration(seconds)


def _memory(line: MemoryLine) -> str:
    action = "forget" if line.accepted else "accept"
    text = neutralize(line.text, limit=MEMORY_CHARS)
    source = neutralize(line.source, limit=80) or "source"
    if line.source_url and line.source_url.startswith("https://"):
        source = f"[{source}]({line.source_url.replace(')', '%29')})"
    used = (
        "never used yet"
        if line.last_used_s is None
        else f"used {format_duration(line.last_used_s)} ago"
    )
    expires = f"expires in {_days(line.expires_in_s)}"
    return (
        f"{_box(action, f'm{line.id}')}**{line.id}.** {text} — from {source} · {used} · {expires}"
    )


def _memories(view: CenterView) -> list[str]:
    accepted = [m for m in view.memories if m.accepted]
    proposed = [m for m in view.memories if not m.accepted]
    out = ["## 🧠 What the agents learned", ""]
    out.append(
        f"In every agent's prompt ({len(accepted)}); a memory no agent used for "
        f"{view.expire_after_days} days expires:"
    )
    out += [_memory(m) for m in accepted] or ["_Nothing yet._"]
    if proposed:
        out += ["", f"Proposed from review feedback ({len(proposed)}), tick to accept:"]
        out += [_memory(m) for m in proposed]
    out += [
        "",
        "`/aios remember <text>` adds one, `/aios forget <n>` removes one.",
        "",
    ]
    return out


def render_center(view: CenterView) -> str:
    """The whole issue body: the hidden marker first, so AIOS finds the issue again."""
    when = view.now.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        CONTROL_CENTER_MARKER,
        "# 🤖 AIOS Control Center",
        "",
        f"The agents' work on this repository, updated {when}. Ticking a box acts for people "
        "with write access (anyone else's tick is undone); AIOS rewrites this issue on every "
        "change, so edits to it do not stay.",
        "",
        *_section("⏳ Waiting for you", view.waiting, "Nothing waits for you.", "for {}"),
        *_section("🛠️ Working", view.working, "No agent is working right now.", "for {}"),
        *_section("🛑 Stopped", view.stopped, "Nothing is stopped.", "{} ago"),
        *_section(
            "✅ Done recently (14 days)",
            view.done,
            "Nothing finished in the last 14 days.",
            "{} ago",
        ),
        *_budget(view),
        *_memories(view),
        *_scorecard(view.scorecard),
    ]
    return fit("\n".join(lines).rstrip() + "\n")
