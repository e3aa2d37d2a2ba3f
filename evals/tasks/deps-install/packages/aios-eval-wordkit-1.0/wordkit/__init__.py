"""The team's shared text helpers (a private package: no public registry has it)."""

import re

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """The words of `text` in order, lower-cased, punctuation dropped ("Don't stop!" is
    ["don't", "stop"])."""
    return WORD.findall(text.lower())
