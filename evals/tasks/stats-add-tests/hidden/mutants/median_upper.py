# HIDDEN-ACCEPTANCE: a broken copy of stats.py for the judge's mutation check.
# MUTANT: the median of an even count is the upper middle value
"""Summary statistics for the lab's measurement sheets."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def _require(values: Sequence[float], at_least: int, what: str) -> None:
    if len(values) < at_least:
        raise ValueError(f"{what} needs at least {at_least} value(s), got {len(values)}")


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean."""
    _require(values, 1, "mean")
    return sum(values) / len(values)


def median(values: Sequence[float]) -> float:
    """The middle value; for an even count, the mean of the two middle values."""
    _require(values, 1, "median")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return ordered[middle]


def mode(values: Sequence[float]) -> float:
    """The most common value; of several equally common values, the smallest."""
    _require(values, 1, "mode")
    counts = Counter(values)
    top = max(counts.values())
    return min(value for value, count in counts.items() if count == top)


def stdev(values: Sequence[float]) -> float:
    """The sample standard deviation (divided by n - 1)."""
    _require(values, 2, "stdev")
    centre = mean(values)
    return math.sqrt(sum((v - centre) ** 2 for v in values) / (len(values) - 1))
