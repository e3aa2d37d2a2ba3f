"""Untrusted text inside AIOS's prompts: delimited as data, so it can never close our tags."""

from __future__ import annotations

import re

from bot.briefs.sanitize import strip_hidden

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DELIMITER_TAGS = (
    "task|issue|title|body|comments|comment|maintainer-feedback|previous-plan|questions-asked"
    "|your-task|plan|handoffs|handoff|repository-instructions|memory"
    "|review-thread|thread-comment|ci-failure|fix-request|untrusted|pull-request|diff"
)
"""Every tag AIOS delimits data with in a prompt: data must never open or close one."""
_TAG_OPEN = re.compile(rf"<(?=\s*/?\s*(?:{DELIMITER_TAGS})(?![\w-]))", re.I)
_ATTRIBUTE_UNSAFE = re.compile(r'["<>&\x00-\x1f\x7f]')


def as_data(text: str) -> str:
    """Untrusted text made safe to place between our delimiter tags: it cannot close them."""
    return _TAG_OPEN.sub("&lt;", _CONTROL.sub("", text)).strip()


def untrusted(text: str, limit: int | None = None) -> str:
    """What a person wrote, for a prompt: hidden text out (`strip_hidden`: what the
    maintainer who approved it could not see), capped at `limit`, unable to close our tags.
    Every human-written text goes through here before it enters a prompt."""
    clean = strip_hidden(text)
    return as_data(cut(clean, limit) if limit is not None else clean)


def as_attribute(value: str) -> str:
    """A value for a delimiter tag's attribute: one short line, no quotes or brackets."""
    return _ATTRIBUTE_UNSAFE.sub("", " ".join(value.split()))[:80]


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[… {len(text) - limit:,} more characters not shown]"
