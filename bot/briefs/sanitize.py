"""Hidden text out of what people wrote, before it reaches an agent: what a maintainer sees.

A maintainer who labels an issue approves the text GitHub shows them. Markdown and Unicode
can carry more than that: HTML comments, zero-width and bidirectional-control characters,
Unicode tag characters, image alt text, link titles, hidden HTML attributes. An instruction
hidden there would reach the agents unseen by anyone, so `strip_hidden` removes it, in the
spirit of claude-code-action's sanitizer. Collapsed `<details>` blocks stay (logs and stack
traces live there) but are marked as collapsed, so an agent knows a skimming reader may have
missed them. Text inside code blocks and code spans is shown by GitHub as it is, so only
invisible characters are removed there.
"""

from __future__ import annotations

import re
import unicodedata

_EXTRA_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
"""Invisible but not format characters: the combining grapheme joiner, Hangul fillers and
Khmer inherent vowels (all used to hide or smuggle text)."""

_PIECES = re.compile(
    # Leftmost first, as a Markdown reader meets them: a comment that opens before a code
    # block hides it, a code block or span that opens first shows the comment inside it.
    r"(?P<comment><!--.*?(?:-->|\Z))"
    r"|(?P<fence>^ {0,3}(?P<mark>`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}(?P=mark)[`~]*[ \t]*$|\Z))"
    r"|(?P<span>(?P<ticks>`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)(?P=ticks)(?!`))",
    re.M | re.S,
)
_IMAGE_ALT = re.compile(r"!\[(?:[^\]\\]|\\.)*\](?=[(\[])")
_LINK_TITLE = re.compile(r"(\]\(\s*<?[^\s)>]*>?)\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\))\s*\)")
_REFERENCE_TITLE = re.compile(
    r"^( {0,3}\[[^\]]+\]:\s*<?\S+?>?)[ \t]+(?:\"[^\"]*\"|'[^']*'|\([^)]*\))[ \t]*$", re.M
)
_HIDDEN_ATTRIBUTE = re.compile(
    r"""\s(?:alt|title|aria-[\w-]+|data-[\w-]+|placeholder)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""",
    re.I,
)
_TAG = re.compile(r"<[A-Za-z][^<>]*>")
_DETAILS_OPEN = re.compile(r"<details\b[^>]*>", re.I)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.I)
_SUMMARY = re.compile(r"<summary\b[^>]*>(.*?)</summary\s*>", re.I | re.S)
_ENTITY = re.compile(r"&#(?:(\d{1,7})|[xX]([0-9A-Fa-f]{1,6}));")


def strip_hidden(text: str) -> str:
    """`text` as a reader of the rendered page sees it, without what they cannot see."""
    if not text:
        return text
    text = _invisible_removed(text.replace("\r\n", "\n").replace("\r", "\n"))
    out: list[str] = []
    position = 0
    for piece in _PIECES.finditer(text):
        out.append(_markup(text[position : piece.start()]))
        if piece.group("comment") is None:
            out.append(piece.group(0))  # code: GitHub shows it as it is
        position = piece.end()
    out.append(_markup(text[position:]))
    return "".join(out)


def reveal_invisible(text: str) -> str:
    """Code to review: invisible characters shown as `<U+202E>`, so a Trojan Source trick
    (bidi controls reordering code) is seen rather than silently removed."""
    if text.isascii():
        return text
    return "".join(f"<U+{ord(ch):04X}>" if _is_invisible(ch) else ch for ch in text)


def _markup(text: str) -> str:
    """Markdown and HTML outside code: the parts a reader never sees, out."""
    text = _IMAGE_ALT.sub("![]", text)
    text = _LINK_TITLE.sub(r"\1)", text)
    text = _REFERENCE_TITLE.sub(r"\1", text)
    text = _TAG.sub(lambda tag: _HIDDEN_ATTRIBUTE.sub("", tag.group(0)), text)
    text = _SUMMARY.sub(lambda m: f"(summary: {m.group(1).strip()})", text)
    text = _DETAILS_OPEN.sub("\n[collapsed section, hidden until opened:]\n", text)
    text = _DETAILS_CLOSE.sub("\n[end of collapsed section]\n", text)
    # Numeric character references render as the character: `&#8238;` is a bidi override.
    return _invisible_removed(_ENTITY.sub(_entity, text))


def _entity(match: re.Match[str]) -> str:
    code = int(match.group(1)) if match.group(1) else int(match.group(2), 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return ""
    char = chr(code)
    # `<` and `&` stay references: decoding them would turn visible text into markup.
    return match.group(0) if char in "<>&" else char


def _invisible_removed(text: str) -> str:
    if text.isascii():
        return "".join(ch for ch in text if ch >= " " or ch in "\t\n")
    return "".join(ch for ch in text if not _is_invisible(ch))


def _is_invisible(ch: str) -> bool:
    if ch in "\t\n":
        return False
    if ch in "\u2028\u2029":
        return True  # line and paragraph separators: shown as nothing in a comment
    if ch in _EXTRA_INVISIBLE or "\ufe00" <= ch <= "\ufe0d" or "\U000e0100" <= ch <= "\U000e01ef":
        return True  # variation selectors (FE0E/FE0F, emoji presentation, stay) smuggle bytes
    return unicodedata.category(ch) in ("Cf", "Cc")
