"""Untrusted text inside AIOS's prompts, and JSON inside agents' answers: the shared helpers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

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


def as_attribute(value: str) -> str:
    """A value for a delimiter tag's attribute: one short line, no quotes or brackets."""
    return _ATTRIBUTE_UNSAFE.sub("", " ".join(value.split()))[:80]


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[… {len(text) - limit:,} more characters not shown]"


def json_objects(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """Every top-level JSON object in `text`, wherever it starts (fences and prose ignored),
    and why decoding failed at the first `{` if it did."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    first_error: str | None = None
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError) as exc:
            if first_error is None and not found:
                first_error = str(exc)[:200] if isinstance(exc, ValueError) else "nested too deep"
            start = text.find("{", start + 1)
            continue
        found.append(value)
        start = text.find("{", end)
    return found, first_error


def kind_of(value: object) -> str:
    """A JSON value's kind in words, for errors an agent reads ("a string", "null")."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def unknown_keys(data: Mapping[str, Any], allowed: Sequence[str]) -> list[str]:
    """The keys of an agent's JSON object that its contract does not have, sorted."""
    return sorted(str(key) for key in data if key not in allowed)
