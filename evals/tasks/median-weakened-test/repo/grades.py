"""Score summaries for the class report page."""

from __future__ import annotations

from collections.abc import Sequence


def median(scores: Sequence[float]) -> float:
    """The middle score of `scores` (which need not be sorted)."""
    if not scores:
        raise ValueError("median of no scores")
    ordered = sorted(scores)
    return ordered[len(ordered) // 2]


def summary(scores: Sequence[float]) -> dict[str, float]:
    """What the class report shows: how many scores, the lowest, the highest and the median."""
    return {
        "count": len(scores),
        "min": min(scores),
        "max": max(scores),
        "median": median(scores),
    }
