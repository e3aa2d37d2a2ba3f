"""Durations in the scheduler's config file (`timeout: 90`)."""

from __future__ import annotations


def parse_duration(text: str) -> int:
    """`text`, a whole number of seconds such as "90", as an int; ValueError otherwise."""
    value = text.strip()
    if not value.isdigit():
        raise ValueError(f"not a number of seconds: {text!r}")
    return int(value)


def format_duration(seconds: int) -> str:
    """`seconds` for people: 5400 -> "1h30m", 45 -> "45s", 0 -> "0s"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"
