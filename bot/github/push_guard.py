"""What every push must pass: no secret in the pushed changes, no protected path changed.

The write tools refuse protected paths and the commit refuses AIOS's own token, but an
agent's `run` command can write any file. So before any push the commits about to leave and
their diff against the base are checked here, and the push is refused with a message that
names each file and the rule or setting, never the value.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from bot.redact import find_secrets, secret_file_rule

WORKFLOWS_DIR = ".github/workflows"
DEFAULT_PROTECTED_PATHS = (".github/aios.yml", "CODEOWNERS")
"""`workflow.protected_paths` when `.github/aios.yml` does not set it."""

WORKFLOWS_SETTING = "workflow.allow_workflow_edits"
PROTECTED_SETTING = "workflow.protected_paths"
MAX_LISTED = 20
"""Files named in one refusal; the rest are counted."""


@dataclass(frozen=True)
class PushPolicy:
    """Which paths agents may change, from the work item's settings."""

    allow_workflow_edits: bool = False
    protected_paths: tuple[str, ...] = DEFAULT_PROTECTED_PATHS

    def setting_protecting(self, path: str) -> str | None:
        """The setting that keeps agents off `path`, or None when they may change it.

        Workflows are matched case-insensitively (GitHub runs `.GitHub/Workflows/x.yml` on
        case-insensitive checkouts). A protected entry without `/` matches that file name in
        any folder (`CODEOWNERS` is honoured in three places); one with `/` matches the path
        or anything under it; `*` and `?` glob within a name.
        """
        clean = PurePosixPath(path.strip("/")).as_posix()
        folded = clean.casefold()
        if not self.allow_workflow_edits and (
            folded == WORKFLOWS_DIR or folded.startswith(WORKFLOWS_DIR + "/")
        ):
            return WORKFLOWS_SETTING
        for entry in self.protected_paths:
            if _matches(clean, entry):
                return PROTECTED_SETTING
        return None


def _matches(path: str, entry: str) -> bool:
    pattern = entry.strip().strip("/")
    if not pattern:
        return False
    if "/" not in pattern:
        return any(fnmatch.fnmatchcase(part, pattern) for part in path.split("/"))
    parts, wanted = path.split("/"), pattern.split("/")
    return len(parts) >= len(wanted) and all(
        fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=False)
    )


@dataclass(frozen=True)
class Problem:
    """One reason to refuse: a file and the rule (a secret) or the setting (a path)."""

    path: str
    reason: str
    kind: str  # "secret" or "protected"


@dataclass
class PushRefused(Exception):
    """The push did not happen; `str()` is the message for maintainers (no secret in it)."""

    branch: str
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        # One line: the progress comment shows it in its "Stopped" banner.
        said: list[str] = []
        for problem in self.problems[:MAX_LISTED]:
            if problem.kind == "secret":
                said.append(
                    f"`{problem.path}` holds a secret (rule `{problem.reason}`; the value is "
                    "not shown)"
                )
            elif problem.reason == WORKFLOWS_SETTING:
                said.append(
                    f"`{problem.path}` is a workflow (set `{WORKFLOWS_SETTING}: true` in "
                    "`.github/aios.yml` to let agents change workflows)"
                )
            else:
                said.append(
                    f"`{problem.path}` is protected (listed in `{PROTECTED_SETTING}` of "
                    "`.github/aios.yml`)"
                )
        if len(self.problems) > MAX_LISTED:
            said.append(f"and {len(self.problems) - MAX_LISTED} more")
        return f"AIOS refused to push `{self.branch}`: " + "; ".join(said) + "."


def check_push(
    branch: str,
    *,
    patch: str,
    messages: str,
    paths: Iterable[str],
    policy: PushPolicy,
    secrets: Iterable[str] = (),
) -> None:
    """Raise PushRefused when the outgoing commits carry a secret or touch a protected path.

    `patch`: `git log -p` of the commits about to be pushed; `messages`: their messages;
    `paths`: every path they touch, and every path of the diff against the base.
    """
    known = tuple(s for s in secrets if s)
    problems: list[Problem] = []
    for path, added in added_lines(patch):
        for finding in find_secrets(added, known, path=path):
            problems.append(Problem(path, finding.rule, "secret"))
    for finding in find_secrets(messages, known):
        problems.append(Problem("a commit message", finding.rule, "secret"))
    for path in sorted(set(paths)):
        if rule := secret_file_rule(path):
            problems.append(Problem(path, rule, "secret"))
        if setting := policy.setting_protecting(path):
            problems.append(Problem(path, setting, "protected"))
    unique = list(dict.fromkeys(problems))
    if unique:
        raise PushRefused(branch, unique)


_FILE = re.compile(r"^\+\+\+ (?:b/(.*)|(\".*\"))$")


def added_lines(patch: str) -> Iterator[tuple[str, str]]:
    """(path, its added lines joined) for each file of each commit in a `git log -p`."""
    path: str | None = None
    added: list[str] = []
    for line in patch.split("\n"):
        if line.startswith("diff --git ") or line.startswith("commit "):
            if path is not None and added:
                yield path, "\n".join(added)
            path, added = None, []
        elif (found := _FILE.match(line)) is not None:
            path = found.group(1) if found.group(1) is not None else _unquote(found.group(2))
        elif path is not None and line.startswith("+"):
            added.append(line[1:])
    if path is not None and added:
        yield path, "\n".join(added)


def _unquote(quoted: str) -> str:
    """git's C-style quoting of an unusual path (`"b/caf\\303\\251.txt"`)."""
    raw = quoted[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    text = raw.encode("latin-1", "replace").decode("utf-8", "replace")
    return text.removeprefix("b/")
