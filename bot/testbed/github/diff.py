"""Where review comments may land on a pull request's diff, the way GitHub anchors them.

A comment names `path`, `line` and `side`: RIGHT is a line of the new file (added or context),
LEFT a line of the old file (removed or context). Only lines shown in a hunk of the three-dot
diff `base...commit` can carry a comment; a multi-line comment's `start_line` must be in the
same hunk and come before `line`. `position` is GitHub's older anchor: lines below the file's
first `@@` header, counting later headers too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unidiff import Hunk

from bot.testbed.github.git import BareRepo

RIGHT, LEFT = "RIGHT", "LEFT"
SIDES = (LEFT, RIGHT)


@dataclass(frozen=True)
class Anchor:
    hunk: int  # index of the hunk in the file's diff
    position: int


@dataclass
class FileDiff:
    """One file of a diff: its lines by position and the lines each side can anchor to."""

    path: str
    lines: list[str] = field(default_factory=list)  # position p is lines[p - 1]
    hunk_starts: list[int] = field(default_factory=list)  # position of each hunk's header
    headers: list[str] = field(default_factory=list)  # each hunk's `@@ … @@` line
    anchors: dict[str, dict[int, Anchor]] = field(default_factory=lambda: {LEFT: {}, RIGHT: {}})

    def anchor(self, side: str, line: int) -> Anchor | None:
        return self.anchors.get(side, {}).get(line)

    def at_position(self, position: int) -> tuple[str, int] | None:
        """The (side, line) a legacy `position` points at (RIGHT unless the line was removed)."""
        for side in (RIGHT, LEFT):
            for line, anchor in self.anchors[side].items():
                if anchor.position == position:
                    return side, line
        return None

    def diff_hunk(self, position: int) -> str:
        """GitHub's `diff_hunk`: the hunk's header and its lines down to `position`."""
        hunk = max(i for i, start in enumerate(self.hunk_starts) if start < position)
        body = self.lines[self.hunk_starts[hunk] : position]
        return "\n".join([self.headers[hunk], *body])


def file_diffs(git: BareRepo, base: str, commit: str) -> dict[str, FileDiff]:
    """Every text file of `base...commit` by the path comments use (old path when deleted)."""
    diffs = {}
    for patched in git.patch_set(base, commit):
        if patched.is_binary_file:
            continue
        source = patched.source_file.removeprefix("a/")
        target = patched.target_file.removeprefix("b/")
        path = source if patched.is_removed_file else target
        diff = FileDiff(path)
        for index, hunk in enumerate(patched):
            if index > 0:
                diff.lines.append(_header(hunk))
            diff.hunk_starts.append(len(diff.lines))
            diff.headers.append(_header(hunk))
            for line in hunk:
                diff.lines.append(str(line).rstrip("\n"))
                position = len(diff.lines)
                anchor = Anchor(index, position)
                if line.target_line_no is not None:
                    diff.anchors[RIGHT][line.target_line_no] = anchor
                if line.source_line_no is not None:
                    diff.anchors[LEFT][line.source_line_no] = anchor
        diffs[path] = diff
    return diffs


def _header(hunk: Hunk) -> str:
    """The `@@` line as git writes it (a length of 1 is left out)."""

    def span(start: int, length: int) -> str:
        return f"{start}" if length == 1 else f"{start},{length}"

    old = span(hunk.source_start, hunk.source_length)
    new = span(hunk.target_start, hunk.target_length)
    tail = f" {hunk.section_header}" if hunk.section_header else ""
    return f"@@ -{old} +{new} @@{tail}"


class DiffCache:
    """Diffs computed once per (base, commit) for the span of one request (commits never change)."""

    def __init__(self, git: BareRepo) -> None:
        self.git = git
        self._diffs: dict[tuple[str, str], dict[str, FileDiff]] = {}

    def files(self, base: str, commit: str) -> dict[str, FileDiff]:
        key = (base, commit)
        if key not in self._diffs:
            self._diffs[key] = file_diffs(self.git, base, commit)
        return self._diffs[key]

    def changed(self, path: str, old: str, new: str) -> bool:
        """Whether the file at `path` differs between two commits (GitHub then outdates threads)."""
        if old == new:
            return False
        return self.git.entry(old, path) != self.git.entry(new, path)
