"""Find and mask secrets in any text before AIOS logs, stores, posts or pushes it.

The rules are gitleaks' maintained set plus AIOS's own (`bot/secret_rules.py`). `redact`
masks what they find; `find_secrets` says which rule found what, for the pre-push scan,
which must name the rule and the file but never repeat the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.secret_rules import Rule, RuleSet, rule_set, shannon_entropy

MASK = "[REDACTED]"
MIN_EXPLICIT_SECRET_LENGTH = 6
"""Explicit secrets shorter than this are ignored: masking every "abc" would garble the text."""

EXPLICIT = "aios:known-secret"
"""The rule name of a value AIOS was told is secret (its own token, the LLM key)."""


@dataclass(frozen=True)
class Finding:
    """Where a secret is in a text, and the rule that found it; never the value itself."""

    rule: str
    start: int
    end: int


def find_secrets(
    text: str, extra_secrets: Iterable[str] = (), *, path: str | None = None
) -> list[Finding]:
    """Every secret in `text`: the values in `extra_secrets`, and what the rules recognise.

    `path`: the file the text is from. Some rules are for one kind of file (Kubernetes
    secrets in YAML); AIOS's rules for headers and URLs in messages are for prose only.

    Each rule runs only when one of its keywords occurs in the text (gitleaks' own
    pre-filter), so a megabyte of ordinary code costs a few dozen substring searches and
    the handful of rules whose keywords it happens to contain.
    """
    if not text:
        return []
    found = list(_explicit(text, extra_secrets))
    rules = rule_set()
    data = text.encode()
    lowered = data.lower()  # keywords are ASCII: bytes.lower() is enough, and fast
    offsets = _Offsets(text, data)
    present: dict[bytes, bool] = {}
    for rule in rules.rules:
        if path is None and rule.path is not None:
            continue
        if path is not None and (rule.prose_only or (rule.path and not rule.path.search(path))):
            continue
        if rule.keywords and not any(_has(lowered, k, present) for k in rule.keywords):
            continue
        found.extend(_matches(text, data, offsets, rule, rules))
    return found


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """`text` with every recognised secret, and every value in `extra_secrets`, masked."""
    if not text:
        return text
    merged: list[list[int]] = []
    for start, end in sorted((f.start, f.end) for f in find_secrets(text, extra_secrets)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)  # overlapping finds are masked as one
        else:
            merged.append([start, end])
    out: list[str] = []
    cursor = 0
    for start, end in merged:
        out += [text[cursor:start], MASK]
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def secret_file_rule(path: str) -> str | None:
    """The rule that makes a file a secret by its name alone (a PKCS #12 key store), if any."""
    for name, pattern in rule_set().path_rules:
        if pattern.search(path):
            return name
    return None


def warm() -> None:
    """Compile the rules now (a third of a second), e.g. in a worker before it forks."""
    rule_set()


def _has(lowered: bytes, keyword: bytes, present: dict[bytes, bool]) -> bool:
    known = present.get(keyword)
    if known is None:
        known = present[keyword] = keyword in lowered
    return known


class _Offsets:
    """Byte offsets in the UTF-8 text turned into str offsets (equal for ASCII text)."""

    def __init__(self, text: str, data: bytes) -> None:
        self._data = data
        self._same = len(data) == len(text)
        self._byte = self._char = 0

    def char(self, byte: int) -> int:
        if self._same:
            return byte
        if byte < self._byte:
            self._byte = self._char = 0  # a new rule's pass starts from the top again
        self._char += len(self._data[self._byte : byte].decode("utf-8", "replace"))
        self._byte = byte
        return self._char


def _explicit(text: str, secrets: Iterable[str]) -> Iterator[Finding]:
    for secret in {s for s in secrets if s and len(s) >= MIN_EXPLICIT_SECRET_LENGTH}:
        start = text.find(secret)
        while start >= 0:
            yield Finding(EXPLICIT, start, start + len(secret))
            start = text.find(secret, start + 1)


def _matches(
    text: str, data: bytes, offsets: _Offsets, rule: Rule, rules: RuleSet
) -> Iterator[Finding]:
    pattern = rule.pattern
    # Named groups mark a variant (jwt-base64's header names), never the secret itself.
    unnamed = [g for g in range(1, pattern.groups + 1) if g not in pattern.groupindex.values()]
    for match in pattern.finditer(data):
        group = rule.secret_group or next((g for g in unnamed if match.group(g)), 0)
        # In order of position (the secret lies within the match), so each pass of a rule
        # decodes the text once at most.
        whole_start = offsets.char(match.start())
        start, end = (offsets.char(b) for b in match.span(group))
        whole_end = offsets.char(match.end())
        secret = text[start:end]
        if not secret.strip():
            continue
        if rule.entropy and shannon_entropy(secret) <= rule.entropy:
            continue
        line = _line(text, whole_start, whole_end)
        whole = text[whole_start:whole_end]
        global_allow = rule.from_gitleaks and rules.allowlist.allows(secret, whole, line)
        if global_allow or any(allow.allows(secret, whole, line) for allow in rule.allowlists):
            continue
        yield Finding(rule.id, start, end)


def _line(text: str, start: int, end: int) -> str:
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", end)
    return text[first : last if last >= 0 else len(text)]
