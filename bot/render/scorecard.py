"""The scorecard as rows of (figure, value, target), for the Control Center and `aios report`
(pure, and light: the web process's CLI loads it)."""

from __future__ import annotations

from bot.render.markdown import format_duration, format_usd
from bot.workitem.scorecard import (
    TARGET_COST_SAVING,
    TARGET_HUMAN_HELP_SHARE,
    TARGET_MERGED_SHARE,
    Scorecard,
)


def _share(part: int, whole: int, ratio: float | None) -> str:
    return "—" if ratio is None else f"{part} of {whole} · {ratio:.0%}"


def _seconds(value: float | None) -> str:
    return "—" if value is None else format_duration(value)


def scorecard_rows(card: Scorecard) -> list[tuple[str, str, str]]:
    """(figure, value, target) rows, as the Control Center and `aios report` print them."""
    per_pr = "—"
    if card.cost_per_merged_usd is not None:
        per_pr = format_usd(card.cost_per_merged_usd)
        if card.cost_saving is not None:
            per_pr += (
                f" · {card.cost_saving:.0%} below {format_usd(card.human_cost_per_pr_usd)} "
                "by people"
            )
    rounds = card.review_rounds_per_merged
    met = card.meets()

    def goal(figure: str, words: str) -> str:
        mark = {True: " ✅", False: " ⚠️", None: ""}[met[figure]]
        return f"{words}{mark}"

    return [
        ("items started", str(card.started), ""),
        (
            "merged (of the items that ended)",
            _share(card.merged, card.ended, card.merged_share),
            goal("merged_share", f"above {TARGET_MERGED_SHARE:.0%}"),
        ),
        (
            "needed human help",
            _share(card.human_help, card.started, card.human_help_share),
            goal("human_help_share", f"under {TARGET_HUMAN_HELP_SHARE:.0%}"),
        ),
        ("review rounds per merged PR", "—" if rounds is None else f"{rounds:.1f}", ""),
        (
            "CI fixes that turned CI green",
            _share(card.ci_fixes_green, card.ci_fix_attempts, card.ci_fix_success),
            "",
        ),
        ("label → pull request (median)", _seconds(card.label_to_pr_s), ""),
        ("label → merge (median)", _seconds(card.label_to_merge_s), ""),
        (
            "cost per merged PR",
            per_pr,
            goal("cost_saving", f"{TARGET_COST_SAVING:.0%} below people"),
        ),
        ("reverted within 14 days of merge", str(card.reverts), ""),
    ]
