"""The scorecard: how well the agents did over a window, computed from work-item history (pure).

Every figure is defined here once; the Control Center, `aios report` and `/metrics` show what
`compute` returns. The window holds the work items *started* (labeled) in it; each figure
counts those items as they stand now:

- **started**: items labeled in the window.
- **merged share**: merged ÷ items that ended (merged, failed, cancelled); items still under
  way count neither way. Target: above 95 %.
- **human help share**: items that needed a person beyond starting, approving and merging ÷
  started. An item needed help when a person pushed a commit to the agents' branch, when its
  review rounds (the QA agent's plus the maintainers' change requests) exceeded
  `workflow.max_review_rounds`, or when the CTO had to ask a question. Target: under 10 %.
- **review rounds per merged PR**: mean of (QA rounds + maintainers' fix rounds) over merged
  items.
- **CI-fix success rate**: fix attempts after a failed CI whose next CI verdict was green ÷
  attempts that got a verdict.
- **label → PR, label → merge**: medians over the items that got there, from the label (the
  item's creation) to the first `verifying` (the draft PR opened) and to `merged`.
- **cost per merged PR**: what every item started in the window cost ÷ merged items, so
  failures are paid for by the successes. Target: 90 % below what people cost per PR
  (`scorecard.human_cost_per_pr_usd`).
- **reverts**: merged items whose merge commit a later commit on the default branch reverted
  within 14 days of the merge.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.workitem.history import ItemHistory
from bot.workitem.states import Event, State

REVERT_WINDOW = timedelta(days=14)
"""A revert later than this after the merge is a change of mind, not a failed change."""

DEFAULT_WINDOW = timedelta(days=30)

TARGET_MERGED_SHARE = 0.95
TARGET_HUMAN_HELP_SHARE = 0.10
TARGET_COST_SAVING = 0.90
"""The seed's targets: success above 95 %, human intervention under 10 %, cost 90 % below
human development."""

_ENDED = frozenset({State.MERGED, State.FAILED, State.CANCELLED})


@dataclass(frozen=True)
class Scorecard:
    """The figures of one window; a ratio or median is None when nothing was there to count."""

    since: datetime
    until: datetime
    started: int
    ended: int
    merged: int
    merged_share: float | None
    human_help: int
    human_help_share: float | None
    review_rounds_per_merged: float | None
    ci_fix_attempts: int
    ci_fixes_green: int
    ci_fix_success: float | None
    label_to_pr_s: float | None
    label_to_merge_s: float | None
    cost_usd: float
    cost_per_merged_usd: float | None
    human_cost_per_pr_usd: float
    cost_saving: float | None
    """1 minus the cost per merged PR divided by what people cost per PR."""
    reverts: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"], data["until"] = self.since.isoformat(), self.until.isoformat()
        return data

    def meets(self) -> dict[str, bool | None]:
        """Whether each figure with a target meets it (None: nothing to judge yet)."""
        return {
            "merged_share": _at_least(self.merged_share, TARGET_MERGED_SHARE),
            "human_help_share": None
            if self.human_help_share is None
            else self.human_help_share < TARGET_HUMAN_HELP_SHARE,
            "cost_saving": _at_least(self.cost_saving, TARGET_COST_SAVING),
        }


def _at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value > target


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def needed_help(history: ItemHistory) -> bool:
    """A person pushed to the branch, the review rounds ran past the bound, or the CTO asked."""
    item = history.item
    rounds = item.review_rounds + item.fix_rounds
    return (
        history.facts.human_commits > 0
        or rounds > item.settings.max_review_rounds
        or bool(item.planning.questions)
    )


def ci_fixes(history: ItemHistory) -> tuple[int, int]:
    """(attempts with a verdict, attempts after which CI was green) from the audit trail.

    An attempt starts when a CI failure sends the item back to implementing; the next CI
    verdict on the item (passed or failed) judges it.
    """
    attempts = green = 0
    open_attempt = False
    for entry in history.audit:
        if entry.rejected or entry.event not in (Event.CI_PASSED, Event.CI_FAILED):
            continue
        if open_attempt:
            attempts += 1
            green += entry.event is Event.CI_PASSED
            open_attempt = False
        if entry.event is Event.CI_FAILED and entry.to_state is State.IMPLEMENTING:
            open_attempt = True
    return attempts, green


def reverted_in_window(history: ItemHistory) -> bool:
    merged_at = history.last_at(State.MERGED)
    reverted_at = history.facts.reverted_at
    if merged_at is None or reverted_at is None:
        return False
    return reverted_at - merged_at <= REVERT_WINDOW


def _median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def compute(
    histories: Iterable[ItemHistory],
    *,
    until: datetime,
    window: timedelta = DEFAULT_WINDOW,
    human_cost_per_pr_usd: float = 400.0,
) -> Scorecard:
    """The scorecard of the items started after `until - window`, up to `until`."""
    since = until - window
    chosen = [h for h in histories if since < h.item.created_at <= until]
    merged = [h for h in chosen if h.item.state is State.MERGED]
    ended = [h for h in chosen if h.item.state in _ENDED]
    helped = [h for h in chosen if needed_help(h)]
    attempts = green = 0
    for history in chosen:
        tried, fixed = ci_fixes(history)
        attempts, green = attempts + tried, green + fixed
    to_pr = [
        (at - h.item.created_at).total_seconds()
        for h in chosen
        if (at := h.first_at(State.VERIFYING)) is not None
    ]
    to_merge = [
        (at - h.item.created_at).total_seconds()
        for h in merged
        if (at := h.last_at(State.MERGED)) is not None
    ]
    cost = sum(h.item.cost_usd for h in chosen)
    per_merged = _ratio(cost, len(merged))
    saving = (
        None
        if per_merged is None or human_cost_per_pr_usd <= 0
        else 1 - per_merged / human_cost_per_pr_usd
    )
    return Scorecard(
        since=since,
        until=until,
        started=len(chosen),
        ended=len(ended),
        merged=len(merged),
        merged_share=_ratio(len(merged), len(ended)),
        human_help=len(helped),
        human_help_share=_ratio(len(helped), len(chosen)),
        review_rounds_per_merged=_ratio(
            sum(h.item.review_rounds + h.item.fix_rounds for h in merged), len(merged)
        ),
        ci_fix_attempts=attempts,
        ci_fixes_green=green,
        ci_fix_success=_ratio(green, attempts),
        label_to_pr_s=_median(to_pr),
        label_to_merge_s=_median(to_merge),
        cost_usd=round(cost, 6),
        cost_per_merged_usd=None if per_merged is None else round(per_merged, 6),
        human_cost_per_pr_usd=human_cost_per_pr_usd,
        cost_saving=saving,
        reverts=sum(reverted_in_window(h) for h in merged),
    )


def parse_window(text: str) -> timedelta:
    """`30d`, `12h`, `2w` (days, hours, weeks) as a window; ValueError for anything else."""
    text = text.strip().lower()
    units = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) < 1:
        raise ValueError(f"a window is a whole number and h, d or w (e.g. 30d), not {text!r}")
    return int(text[:-1]) * units[text[-1]]


_REVERTS_COMMIT = re.compile(r"\bThis reverts commit ([0-9a-f]{7,40})\b")
_REVERT_TITLE = re.compile(r'^Revert ".*\(#(\d+)\)"', re.MULTILINE)


def reverts_of(
    merges: Mapping[str, tuple[str | None, int | None]],
    commits: Iterable[tuple[str, str, datetime]],
) -> dict[str, tuple[str, datetime]]:
    """Which merges (item key → (merge commit, PR number)) the commits `(sha, message, at)`
    revert: `git revert`'s "This reverts commit <sha>", or GitHub's revert button's
    `Revert "<title> (#<pr>)"` squashed. Returns item key → (revert commit, its time)."""
    found: dict[str, tuple[str, datetime]] = {}
    for sha, message, at in commits:
        shas = _REVERTS_COMMIT.findall(message)
        prs = {int(n) for n in _REVERT_TITLE.findall(message)}
        for key, (merge_sha, pr_number) in merges.items():
            if key in found:
                continue
            by_sha = merge_sha and any(merge_sha.startswith(s) for s in shas)
            if by_sha or (pr_number is not None and pr_number in prs):
                found[key] = (sha, at)
    return found
