"""The QA agent's review of a pull request's diff: chunk it, ask per chunk, draft one review.

The agent sees one chunk of the diff per run and answers with a JSON verdict; the verdicts are
merged into one review whose inline comments are placed on lines GitHub accepts (the rest go in
the review body). Everything but `review_diff`'s `ask` is pure; `bot.review.post` posts it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from bot.briefs.qa import (
    PATH_CHARS,
    SUMMARY_CHARS,
    ChunkVerdict,
    QAFormatError,
    parse_qa_verdict,
    qa_chunk_task,
)
from bot.github.diff import ParsedDiff, ProposedComment, ReviewComment
from bot.redact import redact
from bot.render.markdown import neutralize
from bot.review.chunks import DEFAULT_GENERATED_PATTERNS, SkippedFile, chunk_diff, path_filter

log = structlog.get_logger(__name__)

MAX_DRAFT_BYTES = 64_000
"""A draft's body stays under `bot.review.post.MAX_REVIEW_BYTES`, leaving room for the marker
and the 422 fallback's list."""

MAX_FILES_NAMED = 10
"""Files named per chunk in the review body before "and N more"."""

TRUNCATED = "… (truncated)"

_FENCE_LINE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
_MENTION = re.compile(r"(?<![\w@`/.-])@(?=[A-Za-z0-9])")
_ZWJ = "\u200d"


@dataclass(frozen=True)
class ReviewDraft:
    body: str
    """Markdown without the marker: persona, verdict, per-chunk summaries, what is not inline."""
    comments: list[ReviewComment]
    """Inline comments, each on a line of the diff."""
    blocking: bool
    """Some chunk asked for changes or could not be reviewed."""
    findings: int
    """Inline comments plus comments on lines outside the diff."""


# --- the review --------------------------------------------------------------------------


async def review_diff(
    diff_text: str,
    *,
    ask: Callable[[str], Awaitable[str]],
    title: str,
    description: str,
    max_chunk_tokens: int = 12_000,
    ignore_patterns: Sequence[str] = (),
    persona: str = "🔍 Quinn (QA)",
    tests: str | None = None,
) -> ReviewDraft:
    """Ask the QA agent about each chunk of the diff, in order, and merge its verdicts.

    `ask(task)` runs the agent on a task text and returns its `finish` summary. An answer that
    does not parse is asked again once with the error; a chunk that still fails is named in
    the body and counts as blocking. Comments are placed against the whole diff.

    Raises:
        DiffParseError: `diff_text` is not a unified diff.
        ValueError: `max_chunk_tokens` is below `MIN_CHUNK_TOKENS`.
        Whatever `ask` raises.
    """
    parsed = ParsedDiff.from_text(diff_text)
    skip = path_filter((*DEFAULT_GENERATED_PATTERNS, *ignore_patterns))
    plan = chunk_diff(parsed, max_chunk_tokens, skip=skip)
    header = f"### {neutralize(persona, limit=60)} · review"
    if not plan.chunks:
        lines = [header, "", "**Nothing to review:** the diff has no reviewable line changes."]
        lines += _skipped_lines(plan.skipped)
        return ReviewDraft(cap_markdown("\n".join(lines) + "\n", MAX_DRAFT_BYTES), [], False, 0)

    total = len(plan.chunks)
    outcomes: list[ChunkVerdict | str] = []
    for index, chunk in enumerate(plan.chunks):
        task = qa_chunk_task(
            chunk,
            index,
            total,
            title=title,
            description=description,
            skipped=plan.skipped,
            tests=tests,
        )
        outcomes.append(await _ask_verdict(ask, task, index))

    proposed: dict[tuple[Any, ...], ProposedComment] = {}
    for outcome in outcomes:
        if isinstance(outcome, ChunkVerdict):
            for comment in outcome.comments:
                clean = _clean_comment(comment)
                key = (clean.path, clean.line, clean.side, clean.start_line, clean.body)
                proposed.setdefault(key, clean)
    placement = parsed.place_comments(proposed.values())
    blocking = any(not isinstance(o, ChunkVerdict) or o.blocking for o in outcomes)
    findings = len(placement.inline) + len(placement.outside)

    lines = [header, "", _verdict_line(outcomes, findings, len(placement.outside))]
    for index, (chunk, outcome) in enumerate(zip(plan.chunks, outcomes, strict=True)):
        files = _files(chunk.files)
        if isinstance(outcome, ChunkVerdict):
            said = "changes needed" if outcome.blocking else "pass"
            summary = neutralize(redact(outcome.summary), limit=SUMMARY_CHARS)
            lines += ["", f"**Chunk {index + 1} of {total}** ({files}) · {said}: {summary}"]
        else:
            why = neutralize(redact(outcome), limit=500)
            lines += [
                "",
                f"**Chunk {index + 1} of {total}** ({files}) could not be reviewed: {why}",
            ]
    outside = placement.outside_markdown()
    if outside:
        lines += ["", outside.rstrip("\n")]
    lines += _skipped_lines(plan.skipped)
    notes = [note for chunk in plan.chunks for note in chunk.notes]
    if notes:
        lines += ["", "Notes:", "", *(f"- {neutralize(note, limit=400)}" for note in notes)]
    lines += [
        "",
        "<sub>A QA review by AIOS: it comments, and never approves. A maintainer's approval "
        "merges.</sub>",
    ]
    body = cap_markdown("\n".join(lines) + "\n", MAX_DRAFT_BYTES)
    return ReviewDraft(body, placement.inline, blocking, findings)


async def _ask_verdict(
    ask: Callable[[str], Awaitable[str]], task: str, index: int
) -> ChunkVerdict | str:
    """The chunk's verdict, or why the agent's answers could not be used (after one retry)."""
    answer = await ask(task)
    try:
        return parse_qa_verdict(answer)
    except QAFormatError as error:
        log.info("qa verdict unusable, asking again", chunk=index + 1, error=str(error))
        retry = (
            f"{task}\n\nYour previous answer could not be used: {error}. Answer again: finish "
            "with summary set to the JSON object described above, and nothing else."
        )
    answer = await ask(retry)
    try:
        return parse_qa_verdict(answer)
    except QAFormatError as error:
        log.warning("qa verdict unusable twice", chunk=index + 1, error=str(error))
        return str(error)


def _clean_comment(comment: ProposedComment) -> ProposedComment:
    return ProposedComment(
        comment.path,
        comment.line,
        _defuse_mentions(redact(comment.body)),
        comment.side,
        comment.start_line,
        comment.start_side,
    )


def _defuse_mentions(markdown: str) -> str:
    """`@name` outside code cannot notify anyone: a model may echo a login it read in the diff."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opening = _FENCE_LINE.match(line)
        if fence is not None:
            if opening and opening[1][0] == fence[0] and len(opening[1]) >= len(fence):
                fence = None
            out.append(line)
            continue
        if opening:
            fence = opening[1]
            out.append(line)
            continue
        pieces, position = [], 0
        for span in _CODE_SPAN.finditer(line):
            pieces += [_MENTION.sub("@" + _ZWJ, line[position : span.start()]), span[0]]
            position = span.end()
        pieces.append(_MENTION.sub("@" + _ZWJ, line[position:]))
        out.append("".join(pieces))
    return "\n".join(out)


def _verdict_line(outcomes: Sequence[ChunkVerdict | str], findings: int, outside: int) -> str:
    failed = sum(1 for o in outcomes if not isinstance(o, ChunkVerdict))
    asking = sum(1 for o in outcomes if isinstance(o, ChunkVerdict) and o.blocking)
    total = len(outcomes)
    counted = f"{findings} finding{'s' if findings != 1 else ''}"
    if outside:
        counted += f" ({findings - outside} on the diff, {outside} listed below)"
    if not failed and not asking:
        return f"**Verdict: no blocking issues.** {counted}."
    why = []
    if asking:
        why.append(f"changes asked in {asking} of {total} chunk{'s' if total != 1 else ''}")
    if failed:
        why.append(f"{failed} of {total} could not be reviewed")
    return f"**Verdict: changes needed.** {'; '.join(why).capitalize()}; {counted}."


def _files(paths: Sequence[str]) -> str:
    named = ", ".join(code_path(path) for path in paths[:MAX_FILES_NAMED])
    more = len(paths) - MAX_FILES_NAMED
    return named + (f" and {more} more" if more > 0 else "")


def code_path(path: str) -> str:
    """`path` as Markdown inline code on one line, safe to place in a review body."""
    return neutralize(f"`{path.replace('`', '')}`", limit=PATH_CHARS + 2)


def _skipped_lines(skipped: Sequence[SkippedFile]) -> list[str]:
    if not skipped:
        return []
    lines = ["", f"Not reviewed ({len(skipped)} file{'s' if len(skipped) != 1 else ''}):", ""]
    return lines + [f"- {code_path(s.path)}: {neutralize(s.reason, limit=400)}" for s in skipped]


def cap_markdown(markdown: str, limit: int) -> str:
    """`markdown` within `limit` UTF-8 bytes, cut at a line where possible, with a visible note."""
    if len(markdown.encode()) <= limit:
        return markdown
    note = f"\n\n{TRUNCATED}\n"
    room = limit - len(note.encode()) - 8  # 8: a closing fence
    cut = markdown.encode()[:room].decode("utf-8", errors="ignore")
    newline = cut.rfind("\n")
    if newline > len(cut) - 2_000:
        cut = cut[:newline]
    fences = [m[1][:3] for m in map(_FENCE_LINE.match, cut.split("\n")) if m]
    if len(fences) % 2:
        cut += "\n" + fences[-1]
    return cut + note
