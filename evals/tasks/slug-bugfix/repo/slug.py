"""URL slugs for titles."""


def slugify(text: str) -> str:
    """Lower-case `text`, with every character that is not a letter or digit as a dash."""
    return "".join(c if c.isalnum() else "-" for c in text.lower())
