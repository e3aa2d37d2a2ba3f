"""A diff cut into chunks a reviewer's token budget can hold; generated files left out (pure).

Every file is either in a chunk or named with the reason it was skipped: nothing is dropped
silently. Hunks are split only when one alone exceeds the budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.github.diff import (
    NO_NEWLINE_MARK,
    DiffFile,
    DiffHunk,
    FileStatus,
    ParsedDiff,
    hunk_header,
    normalize_path,
)

CHARS_PER_TOKEN = 4
"""Token estimate: `len(text) / 4`, rounded up. Close enough for code and English to budget
prompts; real tokenizers vary by about ±25 %, so leave headroom in `max_tokens`."""

MIN_CHUNK_TOKENS = 64
"""Smallest budget `chunk_diff` accepts: below this even a file header hardly fits."""

MIN_LINE_ROOM = 120
"""Characters a split hunk part always has room for, even when a long file header leaves less
(the chunk then exceeds a tiny budget rather than cutting ordinary lines)."""

GENERATED_MARKER_LINES = 10
"""`@generated` / `DO NOT EDIT` count only in a file's first lines, where generators put them."""

GENERATED_MARKERS = ("@generated", "DO NOT EDIT")

DEFAULT_GENERATED_PATTERNS: tuple[str, ...] = (
    "*.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "pnpm-lock.yaml",
    "go.sum",
    "*.min.js",
    "*.min.css",
    "*.js.map",
    "*.pb.go",
    "*_pb2.py",
    "vendor/",
    "node_modules/",
    "dist/",
)
"""Files never worth a reviewer's tokens; a trailing `/` means that folder at any depth."""

# ---------------------------------------------------------------------------------------------
# Skipping generated files.


def _glob_body(pattern: str) -> str:
    out = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        char = pattern[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in pattern[index + 2 :]:
            close = pattern.index("]", index + 2)
            members = pattern[index + 1 : close]
            negate = members[:1] in ("!", "^")
            members = members[1:] if negate else members
            escaped = members.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^' if negate else ''}{escaped}]")
            index = close
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def glob_regex(pattern: str) -> str:
    """A regular expression (for `fullmatch`) equivalent to a gitignore-style glob.

    `*` and `?` stay within one folder, `**` spans folders, `[abc]` is a class. A pattern with
    no `/` except a trailing one matches at any depth (`*.lock`, `dist/`); other patterns are
    relative to the repository root (`vendor/**`). A trailing `/` means everything below.
    """
    text = pattern.strip()
    anchored = "/" in text.rstrip("/")
    text = text.lstrip("/")
    if text.endswith("/"):
        text += "**"
    prefix = "" if anchored else "(?:.*/)?"
    suffix = "" if text.endswith("**") else "(?:/.*)?"
    return prefix + _glob_body(text) + suffix


def path_filter(patterns: Iterable[str]) -> Callable[[str], str | None]:
    """A `chunk_diff` skip rule: the reason a path matches one of `patterns`, else None."""
    compiled = [(pattern, re.compile(glob_regex(pattern))) for pattern in patterns if pattern]

    def reason(path: str) -> str | None:
        normalized = normalize_path(path)
        for pattern, regex in compiled:
            if regex.fullmatch(normalized):
                return f"matches the skip pattern `{pattern}`"
        return None

    return reason


def is_generated_path(path: str, patterns: Iterable[str] = DEFAULT_GENERATED_PATTERNS) -> bool:
    """Whether `path` matches any of the globs (see `glob_regex` for the syntax)."""
    return path_filter(patterns)(path) is not None


def generated_marker(file: DiffFile) -> str | None:
    """The generator marker in the first lines of the new file, if the diff shows one."""
    for hunk in file.hunks:
        if hunk.target_start > GENERATED_MARKER_LINES:
            break
        new = hunk.target_start
        for text in hunk.lines:
            if new > GENERATED_MARKER_LINES:
                break
            if text[:1] in "+ ":
                for marker in GENERATED_MARKERS:
                    if marker in text:
                        return marker
                new += 1
    return None


# ---------------------------------------------------------------------------------------------
# Chunking for a token budget.


def estimate_tokens(text: str) -> int:
    """`len(text) / CHARS_PER_TOKEN`, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class HunkSlice:
    """Lines `start:stop` of one hunk's body; a whole hunk is `0:len(hunk.lines)`."""

    path: str
    hunk_index: int
    start: int
    stop: int


@dataclass(frozen=True)
class Chunk:
    text: str
    """A self-contained unified diff: each file's header, then its hunks (or hunk parts)."""
    files: tuple[str, ...]
    hunks: tuple[HunkSlice, ...]
    tokens: int
    notes: tuple[str, ...] = ()
    """Hunks split or lines cut to fit, in words to pass on to the reviewer."""


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class ChunkPlan:
    chunks: tuple[Chunk, ...]
    skipped: tuple[SkippedFile, ...]
    max_tokens: int


@dataclass
class _Piece:
    file: DiffFile
    slice: HunkSlice
    text: str
    note: str | None = None


def _skip_reason(
    file: DiffFile, skip: Callable[[str], bool | str | None], include_deleted: bool
) -> str | None:
    verdict = skip(file.path)
    if verdict:
        return verdict if isinstance(verdict, str) else "matches a skip pattern"
    if file.is_binary:
        return "binary file"
    if not file.hunks:
        if file.old_mode and file.new_mode and file.old_mode != file.new_mode:
            return f"file mode change only ({file.old_mode} → {file.new_mode})"
        if file.status is FileStatus.RENAMED:
            return f"renamed from `{file.old_path}` without changes"
        return "no line changes"
    if file.status is FileStatus.DELETED and not include_deleted:
        removed = sum(hunk.source_length for hunk in file.hunks)
        return f"deleted ({removed} lines)"
    marker = generated_marker(file)
    if marker:
        return f"marked as generated (`{marker}` in its first lines)"
    return None


def _split_hunk(file: DiffFile, hunk: DiffHunk, budget_chars: int) -> list[_Piece]:
    """Parts of a hunk too big for one chunk, each a valid hunk with its own @@ header."""
    room = max(budget_chars - len(file.header) - len(hunk.header) - 32, MIN_LINE_ROOM)
    groups: list[tuple[int, int]] = []
    start = 0
    size = 0
    for index, text in enumerate(hunk.lines):
        glued = text.startswith(NO_NEWLINE_MARK)  # stays with the line it describes
        if index > start and not glued and size + len(text) > room:
            groups.append((start, index))
            start, size = index, 0
        size += len(text)
    groups.append((start, len(hunk.lines)))

    pieces = []
    old, new = hunk.source_start, hunk.target_start
    for part, (begin, end) in enumerate(groups, start=1):
        lines = list(hunk.lines[begin:end])
        old_count = sum(1 for text in lines if text[:1] in "- ")
        new_count = sum(1 for text in lines if text[:1] in "+ ")
        header = hunk_header(
            old if old_count else old - 1,
            old_count,
            new if new_count else new - 1,
            new_count,
            hunk.section,
        )
        old, new = old + old_count, new + new_count
        note = (
            f"`{file.path}` hunk {hunk.index + 1} ({hunk.header.split(' @@')[0]} @@) is larger "
            f"than the budget: part {part} of {len(groups)}"
        )
        for position, text in enumerate(lines):
            if len(text) > room:
                keep = room - 32  # the line's +/-/space mark survives: MIN_LINE_ROOM > 32
                cut = len(text) - 1 - keep
                lines[position] = text[:keep] + f" … [{cut:,} characters cut]\n"
                note += f"; a {len(text) - 2:,}-character line was cut to fit"
        pieces.append(
            _Piece(
                file,
                HunkSlice(file.path, hunk.index, begin, end),
                header + "\n" + "".join(lines),
                note,
            )
        )
    return pieces


def chunk_diff(
    parsed: ParsedDiff,
    max_tokens: int,
    *,
    skip: Callable[[str], bool | str | None] | None = None,
    include_deleted: bool = False,
) -> ChunkPlan:
    """Split the diff into chunks of at most `max_tokens` (see `estimate_tokens`) each.

    Hunks are never split unless one alone exceeds the budget; a file is kept in one chunk
    when it fits in one. Every file is either in the chunks or named in `skipped` with the
    reason: `skip(path)` (True or a reason string; default: `DEFAULT_GENERATED_PATTERNS`),
    binary, no line changes, deleted (unless `include_deleted`), or a generator marker in its
    first lines. A chunk exceeds a budget only when that is too small for one file header
    plus `MIN_LINE_ROOM` characters; a single line longer than the budget is cut, with a note.

    Raises:
        ValueError: if `max_tokens` is below `MIN_CHUNK_TOKENS`.
    """
    if max_tokens < MIN_CHUNK_TOKENS:
        raise ValueError(f"max_tokens must be at least {MIN_CHUNK_TOKENS}, got {max_tokens}")
    if skip is None:
        skip = path_filter(DEFAULT_GENERATED_PATTERNS)
    budget = max_tokens * CHARS_PER_TOKEN
    chunks: list[Chunk] = []
    skipped: list[SkippedFile] = []
    parts: list[str] = []
    files: list[str] = []
    slices: list[HunkSlice] = []
    notes: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal size
        if parts:
            text = "".join(parts)
            chunks.append(
                Chunk(text, tuple(files), tuple(slices), estimate_tokens(text), tuple(notes))
            )
        parts.clear()
        files.clear()
        slices.clear()
        notes.clear()
        size = 0

    for file in parsed.files:
        reason = _skip_reason(file, skip, include_deleted)
        if reason:
            skipped.append(SkippedFile(file.path, reason))
            continue
        pieces: list[_Piece] = []
        for hunk in file.hunks:
            text = hunk.text
            if len(file.header) + len(text) <= budget:
                whole = HunkSlice(file.path, hunk.index, 0, len(hunk.lines))
                pieces.append(_Piece(file, whole, text))
            else:
                pieces.extend(_split_hunk(file, hunk, budget))
        whole_file = len(file.header) + sum(len(piece.text) for piece in pieces)
        if whole_file <= budget and size + whole_file > budget:
            flush()  # keep a file together when it fits in a chunk of its own
        for piece in pieces:
            in_chunk = bool(files) and files[-1] == file.path
            cost = len(piece.text) + (0 if in_chunk else len(file.header))
            if parts and size + cost > budget:
                flush()
                in_chunk = False
                cost = len(piece.text) + len(file.header)
            if not in_chunk:
                parts.append(file.header)
                files.append(file.path)
            parts.append(piece.text)
            slices.append(piece.slice)
            if piece.note:
                notes.append(piece.note)
            size += cost
    flush()
    return ChunkPlan(tuple(chunks), tuple(skipped), max_tokens)
