"""What CI says about a commit: a verdict, what failed and why (a digest), and a fingerprint."""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gidgethub
import httpx2
import structlog
from gidgethub.abc import GitHubAPI

from bot.github.job_logs import job_log_tail
from bot.redact import redact

log = structlog.get_logger(__name__)

ACTIONS_SLUG = "github-actions"
"""GitHub Actions' App slug: its check runs are jobs, and a check run's id is the job's id."""
MAX_DETAILED = 10
"""Failed checks whose annotations and log are read; others keep the summary their listing has."""
MAX_ANNOTATIONS = 50
"""Annotations read per failed check: a linter may report thousands, the first fifty say enough."""
ANNOTATION_CHARS = 2_000
"""Longest annotation kept; a message can hold a whole traceback."""
FINGERPRINT_LINES = 20
"""Error-looking lines of a log tail that identify a failure in its fingerprint."""
FAILED_STATUSES = frozenset({"failure", "error"})
OK_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
"""Check run conclusions that pass, as GitHub's required status checks count them."""

_ERRORISH = re.compile(
    r"error|fail|exception|traceback|assert|panic|fatal|denied|not found|^E\s", re.I
)
# What a runner says about every failed job: it tells one failure from another not at all.
_GENERIC_NOTE = re.compile(
    r"(?:Process completed with exit code \d+|The operation was canceled"
    r"|The job running on runner .* has exceeded the maximum execution time).*",
    re.I | re.S,
)
_NOTE = re.compile(r"(?P<path>.*?):(?P<line>\d+): (?P<rest>.*)", re.S)
# What differs between two runs of the same failure: times, ids, temporary paths, ports.
_VOLATILE = (
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (re.compile(r"\b\d{1,2}:\d\d:\d\d(?:[.,]\d+)?\b"), "<time>"),
    (
        re.compile(
            r"(?:/private)?/(?:tmp|var/folders)/[^\s:'\"]*|/home/runner/work/_temp/[^\s:'\"]*"
            r"|[A-Za-z]:\\[^\s:'\"]*\\Temp\\[^\s:'\"]*",
            re.I,
        ),
        "<tmp>",
    ),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<id>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{7,}\b", re.I), "<id>"),
    (re.compile(r"\b(?:127\.0\.0\.1|localhost|0\.0\.0\.0):\d+\b"), "<host>"),
    (
        re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s|secs?|seconds?|m|mins?|minutes?|h|hours?)\b", re.I),
        "<duration>",
    ),
    (re.compile(r"\b\d+ (passed|skipped|deselected|xfailed|xpassed|warnings?)\b"), r"<n> \1"),
)


class CIVerdict(enum.StrEnum):
    NONE = "none"  # no check and no status on the commit
    PENDING = "pending"  # nothing failed, something still runs
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class FailedCheck:
    """One check that did not pass: a check run of some App, or a commit status."""

    name: str
    source: str  # the App's name ("GitHub Actions"), or "status" for a commit status
    conclusion: str  # failure, timed_out, cancelled, action_required, error …
    summary: str
    text: str
    annotations: tuple[str, ...]  # "path:line: level: message" each
    log_tail: str  # last lines of the Actions job log, "" when unavailable
    url: str | None


@dataclass(frozen=True)
class CIReport:
    """CI on one commit, AIOS's own check run left out. Its texts are redacted already."""

    sha: str
    verdict: CIVerdict
    failed: tuple[FailedCheck, ...]
    pending: tuple[str, ...]  # names still queued or in progress
    passed: tuple[str, ...]

    def digest(self, max_chars: int = 12_000) -> str:
        """Markdown for the developer agent: what failed, with summaries, annotations, log tails.

        Cut to `max_chars` by sharing the room fairly between the failed checks (a log tail
        keeps its end). The headline names every failed check whatever the cut, so it alone
        may exceed a tiny `max_chars`.
        """
        head = self._headline()
        if not self.failed:
            return redact(head)
        sections = [_section(check, 1 << 30) for check in self.failed]
        room = max_chars - len(head) - len(sections)  # a blank line before each section
        shares = _shares([len(s) for s in sections], room)
        parts = [head, *(_section(c, share) for c, share in zip(self.failed, shares, strict=True))]
        return redact("\n".join(part for part in parts if part))

    @property
    def fingerprint(self) -> str:
        """A stable hash of what failed, so the same failure twice in a row can be recognised.

        Per failed check: its source, name and conclusion, and its annotations' paths and
        messages (line numbers left out: a fix attempt moves them); without telling
        annotations, the error-looking lines of its log tail, else of its summary and text.
        Times, durations, hex ids, temporary paths and loopback ports are normalised away.
        """
        blocks = sorted("\n".join(_evidence(check)) for check in self.failed)
        return hashlib.sha256("\n\x1e\n".join(blocks).encode()).hexdigest()[:16]

    def _headline(self) -> str:
        lines = [f"## CI on `{self.sha[:7]}`: {self.verdict.value}", ""]
        if self.failed:
            named = ", ".join(f"{_code(c.name)} ({c.source}: {c.conclusion})" for c in self.failed)
            lines.append(f"Failed: {named}.")
        if self.pending:
            lines.append(f"Still running: {_names(self.pending)}.")
        if self.passed:
            lines.append(f"Passed: {_names(self.passed)}.")
        if self.verdict is CIVerdict.NONE:
            lines.append("No checks or statuses reported on this commit.")
        return "\n".join(lines) + "\n"


async def read_ci(
    gh: GitHubAPI,
    repo: str,
    sha: str,
    *,
    own_app_id: int | None,
    own_check_name: str = "AIOS",
    with_details: bool = True,
) -> CIReport:
    """Read the check runs (latest per name) and commit statuses of `sha` in `repo`.

    AIOS's own check run is left out: the one of App `own_app_id`, or, when that id is
    unknown, the one named `own_check_name`. The verdict is FAILED as soon as one check
    failed, even while others still run (they are listed in `pending`): fixing early saves
    time, and a commit with a failed check cannot turn green. Otherwise PENDING while any
    check runs, PASSED when all ended in success, neutral or skipped, NONE with none at all.

    With `with_details`, each failed check run's annotations and, for GitHub Actions jobs,
    the tail of its log are read too; a detail that cannot be read is left empty.

    Raises:
        gidgethub.GitHubException: the check runs or the commit statuses could not be listed.
    """
    secrets = [gh.oauth_token] if gh.oauth_token else []
    runs = [
        run
        async for run in gh.getiter(
            "/repos/{+repo}/commits/{ref}/check-runs{?filter,per_page}",
            {"repo": repo, "ref": sha, "filter": "latest", "per_page": 100},
            iterable_key="check_runs",
        )
        if not _is_own(run, own_app_id, own_check_name)
    ]
    statuses = [
        status
        async for status in gh.getiter(
            "/repos/{+repo}/commits/{ref}/status{?per_page}",
            {"repo": repo, "ref": sha, "per_page": 100},
            iterable_key="statuses",
        )
    ]
    failed: list[FailedCheck] = []
    pending: list[str] = []
    passed: list[str] = []
    for run in runs:
        name = str(run.get("name") or "")
        if run.get("status") != "completed":
            pending.append(name)
        elif run.get("conclusion") in OK_CONCLUSIONS:
            passed.append(name)
        else:
            detailed = with_details and len(failed) < MAX_DETAILED
            failed.append(await _failed_run(gh, repo, run, detailed, secrets))
    for status in statuses:
        context, state = str(status.get("context") or ""), status.get("state")
        if state in FAILED_STATUSES:
            failed.append(_failed_status(status, secrets))
        elif state == "success":
            passed.append(context)
        else:
            pending.append(context)
    verdict = _verdict(failed, pending, passed)
    log.info("ci.read", repo=repo, sha=sha, verdict=verdict.value, failed=len(failed))
    return CIReport(sha, verdict, tuple(failed), tuple(pending), tuple(passed))


def _verdict(failed: Sequence[Any], pending: Sequence[str], passed: Sequence[str]) -> CIVerdict:
    if failed:
        return CIVerdict.FAILED
    if pending:
        return CIVerdict.PENDING
    return CIVerdict.PASSED if passed else CIVerdict.NONE


def _is_own(run: Mapping[str, Any], own_app_id: int | None, own_check_name: str) -> bool:
    if own_app_id is not None:
        return (run.get("app") or {}).get("id") == int(own_app_id)
    return run.get("name") == own_check_name


async def _failed_run(
    gh: GitHubAPI, repo: str, run: Mapping[str, Any], detailed: bool, secrets: Sequence[str]
) -> FailedCheck:
    app = run.get("app") or {}
    output = run.get("output") or {}
    notes: tuple[str, ...] = ()
    log_tail = ""
    if detailed and output.get("annotations_count"):
        notes = await _annotations(gh, repo, int(run["id"]), secrets)
    if detailed and app.get("slug") == ACTIONS_SLUG:
        log_tail = await job_log_tail(gh, repo, int(run["id"]), secrets)
    return FailedCheck(
        name=str(run.get("name") or ""),
        source=str(app.get("name") or app.get("slug") or "unknown app"),
        conclusion=str(run.get("conclusion") or "unknown"),
        summary=redact(str(output.get("summary") or ""), secrets),
        text=redact(str(output.get("text") or ""), secrets),
        annotations=notes,
        log_tail=log_tail,
        url=run.get("details_url") or run.get("html_url"),
    )


def _failed_status(status: Mapping[str, Any], secrets: Sequence[str]) -> FailedCheck:
    return FailedCheck(
        name=str(status.get("context") or ""),
        source="status",
        conclusion=str(status.get("state")),
        summary=redact(str(status.get("description") or ""), secrets),
        text="",
        annotations=(),
        log_tail="",
        url=status.get("target_url"),
    )


async def _annotations(
    gh: GitHubAPI, repo: str, run_id: int, secrets: Sequence[str]
) -> tuple[str, ...]:
    notes: list[str] = []
    try:
        async for note in gh.getiter(
            "/repos/{+repo}/check-runs/{check_run_id}/annotations{?per_page}",
            {"repo": repo, "check_run_id": run_id, "per_page": MAX_ANNOTATIONS},
        ):
            message = str(note.get("message") or "")[:ANNOTATION_CHARS]
            if note.get("title") and note["title"] not in message:
                message = f"{note['title']}: {message}"
            where = f"{note.get('path') or '?'}:{note.get('start_line') or 0}"
            notes.append(redact(f"{where}: {note.get('annotation_level')}: {message}", secrets))
            if len(notes) >= MAX_ANNOTATIONS:
                break
    except (gidgethub.GitHubException, httpx2.HTTPError) as exc:
        log.warning("ci.annotations_unavailable", run_id=run_id, error=type(exc).__name__)
    return tuple(notes)


# -- fingerprint ------------------------------------------------------------------------------


def _normalise(line: str) -> str:
    for pattern, replacement in _VOLATILE:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def _evidence(check: FailedCheck) -> list[str]:
    lines = [f"{check.source}\x1f{check.name}\x1f{check.conclusion}"]
    notes = []
    for note in check.annotations:
        match = _NOTE.fullmatch(note)
        path, rest = (match["path"], match["rest"]) if match else ("", note)
        level, _, message = rest.partition(": ")
        if not _GENERIC_NOTE.fullmatch(message.strip()):
            notes.append(_normalise(f"{path}: {level}: {message}"))
    if notes:
        return lines + sorted(set(notes))
    for text in (check.log_tail, f"{check.summary}\n{check.text}"):
        if text.strip():
            return lines + _telling_lines(text)
    return lines


def _telling_lines(text: str) -> list[str]:
    rows = [_normalise(line) for line in text.splitlines()]
    rows = [row for row in rows if row]
    errors = [row for row in rows if _ERRORISH.search(row)]
    return (errors or rows)[-FINGERPRINT_LINES:]


# -- digest -----------------------------------------------------------------------------------


def _section(check: FailedCheck, budget: int) -> str:
    """The check's details within `budget` characters; "" when not even its heading fits."""
    head = f"### ❌ {_code(check.name)} — {check.conclusion} ({check.source})\n"
    if check.url:
        head += f"\n{check.url}\n"
    if len(head) > budget:
        return ""  # the headline names it already
    parts = [
        ("Summary", check.summary, False, False),
        ("Annotations", "\n".join(check.annotations), True, False),
        ("Details", check.text, False, False),
        ("Log (last lines)", check.log_tail, True, True),
    ]
    parts = [part for part in parts if part[1].strip()]
    frames = [_part(title, "", fenced, body) for title, body, fenced, _ in parts]
    room = budget - len(head) - sum(len(frame) for frame in frames)
    if room <= 0:
        return head
    shares = _shares([len(body) for _, body, _, _ in parts], room)
    rendered = [
        _part(title, _cut(body, share, keep_end=keep_end), fenced, body)
        for (title, body, fenced, keep_end), share in zip(parts, shares, strict=True)
        if share > 0
    ]
    return head + "".join(rendered)


def _part(title: str, shown: str, fenced: bool, body: str) -> str:
    if not fenced:
        return f"\n**{title}**\n\n{shown}\n"
    # A fence longer than any backtick run inside, so a log cannot close it early.
    fence = "`" * max(3, _longest_backtick_run(body) + 1)
    return f"\n**{title}**\n\n{fence}text\n{shown}\n{fence}\n"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _cut(text: str, limit: int, *, keep_end: bool) -> str:
    if len(text) <= limit:
        return text
    marker = "… (cut)"
    if limit <= len(marker) + 1:
        return marker[:limit]
    room = limit - len(marker) - 1
    if keep_end:
        kept = text[len(text) - room :]
        whole_lines = kept.partition("\n")[2]  # a reader is better served by whole lines
        return marker + "\n" + (whole_lines or kept)
    kept = text[:room]
    whole_lines = kept.rpartition("\n")[0]
    return (whole_lines if len(whole_lines) > room // 2 else kept) + "\n" + marker


def _shares(needs: Sequence[int], budget: int) -> list[int]:
    """Split `budget` so small needs are met in full and large ones share what is left evenly."""
    shares = [0] * len(needs)
    left = max(budget, 0)
    order = sorted(range(len(needs)), key=lambda i: needs[i])
    for position, index in enumerate(order):
        shares[index] = min(needs[index], left // (len(needs) - position))
        left -= shares[index]
    return shares


def _code(name: str) -> str:
    fence = "`" * (_longest_backtick_run(name) + 1)
    pad = " " if name.startswith("`") or name.endswith("`") else ""
    return f"{fence}{pad}{name}{pad}{fence}"


def _names(items: Iterable[str]) -> str:
    return ", ".join(_code(item) for item in items)
