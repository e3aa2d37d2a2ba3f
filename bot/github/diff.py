"""Pull-request diffs parsed, and where a review comment may be anchored on them (pure).

GitHub anchors review comments by `path` + `line` + `side`: RIGHT is the new file (added and
context lines), LEFT the old file (removed lines). A comment on any other line makes the whole
review request fail with 422, so every proposed comment is placed here first and the ones that
cannot be anchored go into the review summary instead.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, NotRequired, TypedDict

import unidiff

NO_NEWLINE_MARK = "\\"
_OCTAL = re.compile(r"[0-7]{3}")
_GIT_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


class Side(enum.StrEnum):
    LEFT = "LEFT"
    RIGHT = "RIGHT"


class LineKind(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CONTEXT = "context"


class FileStatus(enum.StrEnum):
    ADDED = "added"
    DELETED = "deleted"
    MODIFIED = "modified"
    RENAMED = "renamed"
    COPIED = "copied"


class DiffParseError(ValueError):
    """The text is not a unified diff; the message says where it stopped making sense."""


@dataclass(frozen=True)
class Anchor:
    """A line of the diff a review comment can be attached to."""

    path: str
    line: int
    side: Side
    kind: LineKind
    hunk_index: int
    position: int
    """Lines below the file's first `@@` header (GitHub's legacy `position`); orders lines."""


@dataclass(frozen=True)
class DiffHunk:
    index: int
    section: str
    """The text after the closing `@@` (often the enclosing function)."""
    lines: tuple[str, ...]
    """Body lines as in the diff, each ending in a newline: `+…`, `-…`, ` …` or `\\ No newline…`."""
    source_start: int
    source_length: int
    target_start: int
    target_length: int

    @property
    def header(self) -> str:
        return hunk_header(
            self.source_start,
            self.source_length,
            self.target_start,
            self.target_length,
            self.section,
        )

    @property
    def text(self) -> str:
        return self.header + "\n" + "".join(self.lines)


@dataclass(frozen=True)
class DiffFile:
    path: str
    """The path GitHub uses for comments: the new path, or the old one for a deleted file."""
    old_path: str | None
    """The path before the change; None for an added file."""
    status: FileStatus
    is_binary: bool
    old_mode: str | None
    new_mode: str | None
    header: str
    """The file's header lines (`diff --git`, `index`, `---`, `+++` …), newline-terminated."""
    hunks: tuple[DiffHunk, ...]

    @property
    def text(self) -> str:
        return self.header + "".join(hunk.text for hunk in self.hunks)


@dataclass(frozen=True)
class ProposedComment:
    """A comment an agent wants to make; `start_line` (same hunk) makes it span lines."""

    path: str
    line: int
    body: str
    side: str = Side.RIGHT
    start_line: int | None = None
    start_side: str | None = None


class ReviewComment(TypedDict):
    """One entry of `comments` for POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews."""

    path: str
    line: int
    side: str
    body: str
    start_line: NotRequired[int]
    start_side: NotRequired[str]


@dataclass
class Placement:
    inline: list[ReviewComment] = field(default_factory=list)
    outside: list[ProposedComment] = field(default_factory=list)
    """Comments on lines outside the diff: list them in the review summary."""

    def outside_markdown(self) -> str:
        """The `outside` comments as a Markdown list for the review body; "" if none."""
        items = []
        for comment in self.outside:
            where = f"line {comment.line}"
            if comment.start_line is not None and comment.start_line != comment.line:
                where = f"lines {comment.start_line} to {comment.line}"
            if comment.side.upper() == Side.LEFT:
                where += " (old version)"
            body = comment.body.strip().replace("\n", "\n  ")
            items.append(f"- `{comment.path}` {where}: {body}")
        if not items:
            return ""
        return "Comments on lines outside this diff:\n\n" + "\n".join(items) + "\n"


def _is_side(value: str) -> bool:
    return value.upper() in Side.__members__


def hunk_header(src_start: int, src_len: int, tgt_start: int, tgt_len: int, section: str) -> str:
    tail = f" {section}" if section else ""
    old = f"{src_start}" if src_len == 1 else f"{src_start},{src_len}"  # git's short form
    new = f"{tgt_start}" if tgt_len == 1 else f"{tgt_start},{tgt_len}"
    return f"@@ -{old} +{new} @@{tail}"


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual paths (`"caf\\303\\251.txt"` → `café.txt`)."""
    if not (len(path) >= 2 and path.startswith('"') and path.endswith('"')):
        return path
    raw = bytearray()
    body = path[1:-1]
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            octal = body[index + 1 : index + 4]
            if _OCTAL.fullmatch(octal):
                raw.append(int(octal, 8) & 0xFF)
                index += 4
                continue
            nxt = body[index + 1]
            raw.extend(bytes([_GIT_ESCAPES[nxt]]) if nxt in _GIT_ESCAPES else nxt.encode())
            index += 2
            continue
        raw.extend(char.encode())
        index += 1
    return raw.decode("utf-8", errors="replace")


def _strip_prefix(path: str | None, prefix: str) -> str | None:
    if path is None or path == "/dev/null":
        return None
    path = _unquote(path)
    return path[len(prefix) :] if path.startswith(prefix) else path


def normalize_path(path: str) -> str:
    return path.strip().removeprefix("./").lstrip("/")


# ---------------------------------------------------------------------------------------------
# Parsing.


class _Line(NamedTuple):
    hunk_index: int
    position: int
    kind: LineKind
    other: int | None
    """For a context line, its number on the other side."""


class _FileIndex:
    __slots__ = ("file", "left", "right")

    def __init__(self, file: DiffFile) -> None:
        self.file = file
        self.right: dict[int, _Line] = {}
        self.left: dict[int, _Line] = {}
        position = 0
        for hunk in file.hunks:
            if hunk.index:
                position += 1  # the next hunk's @@ header is itself a position
            old, new = hunk.source_start, hunk.target_start
            for text in hunk.lines:
                position += 1
                mark = text[:1]
                if mark == "+":
                    self.right[new] = _Line(hunk.index, position, LineKind.ADDED, None)
                    new += 1
                elif mark == "-":
                    self.left[old] = _Line(hunk.index, position, LineKind.REMOVED, None)
                    old += 1
                elif mark != NO_NEWLINE_MARK:
                    self.right[new] = _Line(hunk.index, position, LineKind.CONTEXT, old)
                    self.left[old] = _Line(hunk.index, position, LineKind.CONTEXT, new)
                    old += 1
                    new += 1


def _name_line(mark: str, name: str, timestamp: str | None) -> str:
    if timestamp:
        return f"{mark} {name}\t{timestamp}\n"
    # git ends a name containing a space with a tab, so the name's end is unambiguous
    return f"{mark} {name}\t\n" if " " in name else f"{mark} {name}\n"


def _file_from_patch(patched: unidiff.PatchedFile) -> DiffFile:
    info = list(patched.patch_info or [])
    renamed_from = renamed_to = copied_from = copied_to = None
    for raw in info:
        text = raw.rstrip("\n")
        for prefix in ("rename from ", "rename to ", "copy from ", "copy to "):
            if text.startswith(prefix):
                value = _unquote(text[len(prefix) :])
                if prefix == "rename from ":
                    renamed_from = value
                elif prefix == "rename to ":
                    renamed_to = value
                elif prefix == "copy from ":
                    copied_from = value
                else:
                    copied_to = value
    source = _strip_prefix(patched.source_file, "a/")
    target = _strip_prefix(patched.target_file, "b/")
    old_path = renamed_from or copied_from or source
    new_path = renamed_to or copied_to or target
    if patched.source_file == "/dev/null":
        status, old_path = FileStatus.ADDED, None
    elif patched.target_file == "/dev/null":
        status, new_path = FileStatus.DELETED, None
    elif copied_from:
        status = FileStatus.COPIED
    elif renamed_from:
        status = FileStatus.RENAMED
    else:
        status = FileStatus.MODIFIED
    path = new_path or old_path or ""

    header = "".join(line if line.endswith("\n") else line + "\n" for line in info)
    hunks = []
    for index, hunk in enumerate(patched):
        lines = tuple(
            text if text.endswith("\n") else text + "\n"
            for text in (str(line) for line in hunk)
            if text[:1] in "+- \\"  # drops blank separator lines between files
        )
        hunks.append(
            DiffHunk(
                index=index,
                section=hunk.section_header.rstrip("\r"),
                lines=lines,
                source_start=hunk.source_start,
                source_length=hunk.source_length,
                target_start=hunk.target_start,
                target_length=hunk.target_length,
            )
        )
    if hunks:
        header += _name_line("---", patched.source_file, patched.source_timestamp)
        header += _name_line("+++", patched.target_file, patched.target_timestamp)
    return DiffFile(
        path=path,
        old_path=old_path,
        status=status,
        is_binary=bool(patched.is_binary_file),
        old_mode=patched.source_mode,
        new_mode=patched.target_mode,
        header=header,
        hunks=tuple(hunks),
    )


class ParsedDiff:
    """A parsed unified diff with O(1) comment anchoring."""

    def __init__(self, files: Sequence[DiffFile]) -> None:
        self.files: tuple[DiffFile, ...] = tuple(files)
        self._index: dict[str, _FileIndex] = {}
        for file in self.files:
            self._index[normalize_path(file.path)] = _FileIndex(file)
        for file in self.files:
            # a comment naming a renamed file's old path still lands on the file
            if file.old_path and file.status is FileStatus.RENAMED:
                self._index.setdefault(
                    normalize_path(file.old_path), self._index[normalize_path(file.path)]
                )

    @classmethod
    def from_text(cls, diff_text: str) -> ParsedDiff:
        """Parse `git diff` output or GitHub's `application/vnd.github.diff`.

        Raises:
            DiffParseError: if the text is not a unified diff.
        """
        try:
            patch = unidiff.PatchSet(diff_text)
        except (unidiff.UnidiffParseError, UnicodeError) as error:
            detail = str(error)
            detail = detail if len(detail) <= 200 else detail[:199] + "…"
            raise DiffParseError(f"not a valid unified diff: {detail}") from None
        if not patch and diff_text.strip():
            lines = diff_text.count("\n") + 1
            raise DiffParseError(
                f"no file changes found in {lines:,} lines of text: expected `git diff` output "
                "or a pull request diff (Accept: application/vnd.github.diff)"
            )
        return cls([_file_from_patch(patched) for patched in patch])

    def file(self, path: str) -> DiffFile | None:
        index = self._index.get(normalize_path(path))
        return index.file if index else None

    def locate(self, path: str, line: int, side: str = Side.RIGHT) -> Anchor | None:
        """Where a comment on `line` of `path` can go, or None if that line is not in the diff.

        A LEFT comment on an unchanged (context) line is moved to the same line's RIGHT
        number, where GitHub always accepts it.

        Raises:
            ValueError: if `side` is not LEFT or RIGHT.
        """
        wanted = Side(side.upper())
        index = self._index.get(normalize_path(path))
        if index is None:
            return None
        found = (index.right if wanted is Side.RIGHT else index.left).get(line)
        if found is None:
            return None
        if wanted is Side.LEFT and found.kind is LineKind.CONTEXT:
            assert found.other is not None
            wanted, line = Side.RIGHT, found.other
        return Anchor(index.file.path, line, wanted, found.kind, found.hunk_index, found.position)

    def place_comments(self, comments: Iterable[ProposedComment]) -> Placement:
        """Split comments into review entries GitHub accepts and the rest (for the summary).

        A range (`start_line`) is kept as a multi-line comment when both ends are in the same
        hunk; otherwise it becomes a comment on its end line, or failing that its start line.
        """
        placement = Placement()
        for comment in comments:
            entry = self._place(comment)
            if entry is None:
                placement.outside.append(comment)
            else:
                placement.inline.append(entry)
        return placement

    def _place(self, comment: ProposedComment) -> ReviewComment | None:
        if not _is_side(comment.side) or (
            comment.start_side is not None and not _is_side(comment.start_side)
        ):
            return None
        end = self.locate(comment.path, comment.line, comment.side)
        start = None
        start_side = comment.start_side or comment.side
        if comment.start_line is not None and (
            comment.start_line != comment.line or start_side.upper() != comment.side.upper()
        ):
            start = self.locate(comment.path, comment.start_line, start_side)
        if end is None:
            end, start = start, None
        if end is None:
            return None
        entry: ReviewComment = {
            "path": end.path,
            "line": end.line,
            "side": end.side.value,
            "body": comment.body,
        }
        if start is not None and start.hunk_index == end.hunk_index:
            if start.position > end.position:
                start, end = end, start
            if start.position != end.position:
                entry["line"], entry["side"] = end.line, end.side.value
                entry["start_line"], entry["start_side"] = start.line, start.side.value
        return entry
