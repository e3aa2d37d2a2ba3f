"""Untrusted text as inert Markdown, and the small formats every picture shares (pure).

Anything a model, an issue or a log wrote goes through `neutralize` before it reaches a comment:
no mentions but the allowed ones, no HTML, no Markdown structure; `fit` keeps a body within
GitHub's size limits and still well formed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_OUTPUT_BYTES = 65535
"""GitHub caps a comment body and a check run's summary and text at 65535 characters;
counting UTF-8 bytes stays under that however GitHub counts."""

_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_MENTION = re.compile(r"@(?=[A-Za-z0-9])([A-Za-z0-9-]*)(/?)")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~$])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ZWJ = "\u200d"


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


def format_usd(amount: float) -> str:
    """Dollars to the cent; an amount above zero but under a cent is "<$0.01", never "$0.00"."""
    if 0 < amount < 0.005:
        return "<$0.01"
    return f"${amount:,.2f}"


def format_cost(cost_usd: float, budget_usd: float | None) -> str:
    if budget_usd is None:
        return format_usd(cost_usd)
    over = " (budget reached)" if cost_usd >= budget_usd else ""
    return f"{format_usd(cost_usd)} of {format_usd(budget_usd)}{over}"


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
