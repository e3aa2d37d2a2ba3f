"""The agents' answer envelope: one JSON object inside an agent's `finish` summary.

Every agent that answers with data (the CTO's decision, the QA verdict, the fixer's replies,
the test report) puts one JSON object in its summary, bare, in a ```json fence, or with prose
around it. This module finds it; each brief checks the fields. Stdlib only: the work-item
model validates stored plans with the same words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Envelope:
    """What an answer holds: every top-level JSON object, and those carrying the wanted keys."""

    found: list[dict[str, Any]]
    wanted: list[dict[str, Any]]
    error: str | None
    """Why decoding failed at the first `{`, when nothing decoded before it."""

    def first(self) -> dict[str, Any] | None:
        """The first wanted object, for lenient readers that fall back to prose."""
        return self.wanted[0] if self.wanted else None

    def only(self, error: type[ValueError], *, contract: str, missing: str, noun: str) -> dict:
        """The one wanted object, or `error` saying what to fix.

        Args:
            contract: the shape to finish with, quoted when no JSON object was found.
            missing: the error when objects were found but none is wanted; `{keys}` in it
                becomes the keys that were found.
            noun: what the objects are called when several differ (`verdict objects`).
        """
        if not self.wanted:
            if not self.found:
                why = f" (at the first '{{': {self.error})" if self.error else ""
                raise error(f"no valid JSON object found{why}; finish with summary = {contract}")
            raise error(missing.replace("{keys}", str(self.keys_found())))
        if any(obj != self.wanted[0] for obj in self.wanted[1:]):
            raise error(f"found {len(self.wanted)} different {noun}; finish with exactly one")
        return self.wanted[0]

    def keys_found(self, limit: int = 20) -> list[str]:
        return sorted({str(key)[:40] for obj in self.found for key in obj})[:limit]


def open_envelope(text: str, *keys: str) -> Envelope:
    """The JSON objects in `text`; `wanted` are those with any of `keys` (all, when none)."""
    found, error = json_objects(text)
    wanted = [obj for obj in found if not keys or any(key in obj for key in keys)]
    return Envelope(found, wanted, error)


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
