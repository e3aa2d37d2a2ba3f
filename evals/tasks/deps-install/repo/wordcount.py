"""Word statistics for the editor's sidebar."""

from wordkit import words


def count(text: str) -> int:
    """How many words `text` has."""
    return len(words(text))
