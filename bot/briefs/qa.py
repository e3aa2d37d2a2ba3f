"""The QA agent's verdict on one chunk of a diff: the contract it answers in, and its strict
parser (errors name the key to fix, so the agent can correct itself)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.briefs.text import json_objects, kind_of, unknown_keys
from bot.github.diff import ProposedComment

MAX_ANSWER_CHARS = 250_000
"""Longest agent answer parsed: 50 comments of 4,000 characters plus the summary and prose."""

MAX_COMMENTS, COMMENT_CHARS, SUMMARY_CHARS, PATH_CHARS = 50, 4_000, 2_000, 300
"""Caps on one chunk's verdict, so one answer cannot flood the review."""

VERDICTS = ("pass", "changes")
SIDES = ("RIGHT", "LEFT")

QA_VERDICT_HELP = (
    "When you have reviewed this chunk, call `finish` once with `summary` set to one JSON "
    'object and nothing else: {"verdict": "changes", "summary": "What you checked and what '
    'you found, in a few sentences.", "comments": [{"path": "src/app.py", "line": 12, "body": '
    '"What is wrong, why it matters, and the fix."}]}. "verdict" is "changes" when something '
    "must be fixed before merging (a bug, a missing or wrong test, a security problem, behaviour "
    'the pull request does not claim), otherwise "pass" (nits alone are a pass). "summary": at '
    f'most {SUMMARY_CHARS} characters. "comments": at most {MAX_COMMENTS}, an empty list when '
    'there is nothing to point at; each on one line of this chunk\'s diff: "path" as in the '
    'diff header (the new path), "line" the line\'s number in the NEW file (the second number '
    'in the gutter). Only for a removed (-) line, add "side": "LEFT" and use its number in the '
    'OLD file (the first number). Optional "start_line" (same hunk, same side, before "line") '
    'makes the comment span start_line to line. "body": at most '
    f"{COMMENT_CHARS} characters of Markdown; a ```suggestion block proposes a replacement for "
    "the lines commented on."
)


class QAFormatError(ValueError):
    """The QA agent's answer does not follow the contract; the message says what to fix."""


@dataclass(frozen=True)
class ChunkVerdict:
    blocking: bool
    """True when the QA asks for changes."""
    summary: str
    comments: tuple[ProposedComment, ...]


def parse_qa_verdict(text: str) -> ChunkVerdict:
    """The verdict in the QA agent's `finish` summary.

    Accepts one JSON object, bare, inside a ```json fence, or with prose around it (see
    `QA_VERDICT_HELP`). Raises QAFormatError (and nothing else) naming the key to fix.
    """
    if not isinstance(text, str):
        raise QAFormatError(f"the answer must be text, got {kind_of(text)}")
    if len(text) > MAX_ANSWER_CHARS:
        raise QAFormatError(
            f"the answer is {len(text):,} characters; keep it under {MAX_ANSWER_CHARS:,}"
        )
    found, error = json_objects(text)
    verdicts = [obj for obj in found if isinstance(obj, dict) and "verdict" in obj]
    if not verdicts:
        if not found:
            why = f" (at the first '{{': {error})" if error else ""
            raise QAFormatError(
                f"no valid JSON object found{why}; finish with summary = "
                '{"verdict": "pass" or "changes", "summary": "...", "comments": [...]}'
            )
        keys = sorted({str(key)[:40] for obj in found for key in obj})[:20]
        raise QAFormatError(f'the JSON object needs a "verdict" key, found keys {keys}')
    if any(obj != verdicts[0] for obj in verdicts[1:]):
        raise QAFormatError(
            f"found {len(verdicts)} different verdict objects; finish with exactly one"
        )
    data = verdicts[0]
    _no_extra_keys(data, "the verdict object", ("verdict", "summary", "comments"))
    verdict = data["verdict"]
    if not isinstance(verdict, str) or verdict.strip().lower() not in VERDICTS:
        got = repr(verdict[:40]) if isinstance(verdict, str) else kind_of(verdict)
        raise QAFormatError(f'"verdict" must be "pass" or "changes", got {got}')
    if "summary" not in data:
        raise QAFormatError('"summary" is missing: say in a few sentences what you found')
    summary = _text(data["summary"], '"summary"', SUMMARY_CHARS)
    raw = data.get("comments")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise QAFormatError(f'"comments" must be a list of objects, got {kind_of(raw)}')
    if len(raw) > MAX_COMMENTS:
        raise QAFormatError(
            f'"comments" has {len(raw)} items; at most {MAX_COMMENTS}: keep the ones that '
            "matter and mention the pattern once"
        )
    comments = tuple(_comment(item, f"comments[{i}]") for i, item in enumerate(raw))
    return ChunkVerdict(verdict.strip().lower() == "changes", summary, comments)


def _comment(value: Any, where: str) -> ProposedComment:
    if not isinstance(value, dict):
        raise QAFormatError(f"{where} must be an object, got {kind_of(value)}")
    allowed = ("path", "line", "side", "start_line", "start_side", "body")
    _no_extra_keys(value, where, allowed)
    for key in ("path", "line", "body"):
        if key not in value:
            raise QAFormatError(f"{where}.{key} is missing")
    path = _text(value["path"], f"{where}.path", PATH_CHARS)
    if "\n" in path or "\r" in path or "`" in path:
        raise QAFormatError(f"{where}.path must be a plain path on one line, without backticks")
    side = _side(value.get("side"), f"{where}.side") or "RIGHT"
    start_side = _side(value.get("start_side"), f"{where}.start_side")
    line = _line(value["line"], f"{where}.line")
    start_line = None
    if value.get("start_line") is not None:
        start_line = _line(value["start_line"], f"{where}.start_line")
        if (start_side or side) == side and start_line > line:
            raise QAFormatError(
                f"{where}.start_line ({start_line}) must not come after line ({line})"
            )
    body = _text(value["body"], f"{where}.body", COMMENT_CHARS)
    return ProposedComment(path, line, body, side, start_line, start_side)


def _side(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().upper() not in SIDES:
        got = repr(value[:20]) if isinstance(value, str) else kind_of(value)
        raise QAFormatError(f'{where} must be "RIGHT" (new file) or "LEFT" (old file), got {got}')
    return value.strip().upper()


def _line(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise QAFormatError(f"{where} must be a line number (an integer), got {kind_of(value)}")
    if not 1 <= value <= 10_000_000:
        raise QAFormatError(f"{where} must be a line number from 1, got {value}")
    return value


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str):
        raise QAFormatError(f"{where} must be a string, got {kind_of(value)}")
    text = value.strip()
    if not text:
        raise QAFormatError(f"{where} must not be empty")
    if len(text) > limit:
        raise QAFormatError(f"{where} is {len(text):,} characters; keep it under {limit:,}")
    return text


def _no_extra_keys(data: dict[str, Any], where: str, allowed: Sequence[str]) -> None:
    extra = [key[:40] for key in unknown_keys(data, allowed)]
    if extra:
        raise QAFormatError(f"{where} has unknown keys {extra[:10]}; allowed: {', '.join(allowed)}")
