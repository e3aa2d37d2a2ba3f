"""The secret rules `bot/redact.py` applies: gitleaks' maintained set, translated, plus AIOS's own.

gitleaks (https://github.com/gitleaks/gitleaks) keeps the rule set most secret scanners
borrow: one regular expression per credential format, keywords that must appear before the
expression is worth running, an entropy floor, and allowlists for known false alarms. The
file `bot/gitleaks.toml` is its release, unchanged; this module reads it and translates its
Go (RE2) expressions to Python's `re`. AIOS adds a few rules for what it handles itself
(authorization headers, credentials in URLs, cut-off private keys, the looser shapes of the
provider keys it uses), named `aios:*`.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

GITLEAKS_VERSION = "8.30.1"
RULES_FILE = Path(__file__).with_name("gitleaks.toml")

EXCLUDED = {
    "generic-api-key": "matches any assignment to a variable named like key, token or secret "
    "with a random-looking value: in code and prose it raises too many false alarms to refuse "
    "pushes over, and the specific rules cover the real credential formats",
}
"""gitleaks rules AIOS leaves out, each with the reason."""

Target = Literal["secret", "match", "line"]


@dataclass(frozen=True)
class Allowlist:
    """A gitleaks allowlist: a finding it matches is not a secret (e.g. `AKIA…EXAMPLE`)."""

    regexes: tuple[re.Pattern[str], ...] = ()
    target: Target = "secret"
    stopwords: tuple[str, ...] = ()
    needs_all: bool = False
    """`condition = "AND"`: every criterion must hold (one on file paths never does here)."""
    has_paths: bool = False

    def allows(self, secret: str, match: str, line: str) -> bool:
        subject = {"secret": secret, "match": match, "line": line}[self.target]
        checks = []
        if self.regexes:
            checks.append(any(r.search(subject) for r in self.regexes))
        if self.stopwords:
            lowered = secret.lower()
            checks.append(any(word in lowered for word in self.stopwords))
        if self.has_paths:
            # Path allowlists (lock files, vendored code) are ignored: AIOS scans every file
            # it pushes, so a path never excuses a finding.
            checks.append(False)
        if not checks:
            return False
        return all(checks) if self.needs_all else any(checks)


@dataclass(frozen=True)
class Rule:
    """One credential format: `pattern`, and the group of it that is the secret."""

    id: str
    pattern: re.Pattern[str]
    keywords: tuple[str, ...] = ()
    """Lower-case strings one of which must occur in the text for the rule to run."""
    entropy: float = 0.0
    """A candidate whose Shannon entropy is not above this is not a secret."""
    secret_group: int = 0
    """0: the first non-empty group, else the whole match (gitleaks' rule)."""
    allowlists: tuple[Allowlist, ...] = ()
    boundary: bool = False
    """The expression began with `\\b`, checked by the caller instead (see `_fast`)."""
    path: re.Pattern[str] | None = None
    """Files the rule is for (e.g. Kubernetes secrets in YAML); it never runs on prose."""
    prose_only: bool = False
    """Masks what a message or log shows (an `Authorization:` line) but would flag ordinary
    code (`authorization: str | None`): not applied to the files of a push."""

    @property
    def from_gitleaks(self) -> bool:
        """gitleaks' global allowlist (placeholders, obvious fakes) covers its rules only."""
        return not self.id.startswith("aios:")


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    path_rules: tuple[tuple[str, re.Pattern[str]], ...]
    """Rules on file names alone (a `.p12` key store is a secret whatever it holds)."""
    allowlist: Allowlist
    """gitleaks' global allowlist (placeholders such as `${{ secrets.X }}`, `true`)."""


def shannon_entropy(text: str) -> float:
    """Bits per character, as gitleaks computes it."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


# --- Go (RE2) expressions to Python's ------------------------------------------------------

_POSIX = {"alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "digit": "0-9", "xdigit": "0-9a-fA-F"}
_FLAGS = re.compile(r"\(\?([a-zA-Z]*(?:-[a-zA-Z]+)?)\)")


def translate(pattern: str) -> str:
    """A Go regular expression as Python's `re` reads it with the same meaning.

    RE2 allows `(?i)` anywhere, applying to the rest of the enclosing group; Python only at
    the start. Each such flag becomes a scoped group `(?i:…)` around the rest of its
    alternative, and around each later alternative of the same group. `\\z` is `\\Z`, POSIX
    classes are spelt out, and `[`, `--`, `&&`, `~~`, `||` inside a class are escaped
    (Python reserves them for set operations).
    """
    tokens = _tokens(pattern)
    body, end = _sequence(tokens, 0, top=True)
    assert end == len(tokens)
    return body


def _tokens(pattern: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escape = pattern[i : i + 2]
            tokens.append("\\Z" if escape == "\\z" else escape)
            i += 2
        elif char == "[":
            end, text = _char_class(pattern, i)
            tokens.append(text)
            i = end
        elif char == "(":
            flags = _FLAGS.match(pattern, i)
            if flags:
                tokens.append(flags.group(0))
                i = flags.end()
            elif pattern.startswith("(?", i):
                close = pattern.index(")", i) if pattern.startswith("(?#", i) else -1
                if close >= 0:
                    i = close + 1  # a comment
                    continue
                head = re.match(r"\(\?(?:P?<[A-Za-z_]\w*>|[a-zA-Z-]*:)", pattern[i:])
                if head is None:
                    raise re.error(f"unsupported group at {i}", pattern)
                tokens.append(head.group(0))
                i += len(head.group(0))
            else:
                tokens.append("(")
                i += 1
        else:
            tokens.append(char)
            i += 1
    return tokens


def _char_class(pattern: str, start: int) -> tuple[int, str]:
    out = ["["]
    i = start + 1
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    if pattern.startswith("]", i):
        out.append("\\]")
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        char = pattern[i]
        posix = re.match(r"\[:(\w+):\]", pattern[i:])
        if posix and posix.group(1) in _POSIX:
            out.append(_POSIX[posix.group(1)])
            i += len(posix.group(0))
        elif char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif char == "[":
            out.append("\\[")
            i += 1
        elif char in "-&~|" and out[-1] == char:
            out.append("\\" + char)
            i += 1
        else:
            out.append(char)
            i += 1
    if i >= len(pattern):
        raise re.error("unterminated character class", pattern, start)
    out.append("]")
    return i + 1, "".join(out)


def _sequence(tokens: list[str], i: int, *, top: bool = False) -> tuple[str, int]:
    """Render tokens up to the `)` closing the current group (or the end), scoping flags."""
    prefix = ""
    if top and i < len(tokens) and _FLAGS.fullmatch(tokens[i]):
        prefix = tokens[i]  # a flag leading the whole expression: Python takes it as it is
        i += 1
    alternatives: list[list[str | _Flag]] = [[]]
    while i < len(tokens) and tokens[i] != ")":
        piece = tokens[i]
        if piece == "|":
            alternatives.append([])
        elif _FLAGS.fullmatch(piece):
            alternatives[-1].append(_Flag(piece[2:-1]))
        elif piece.startswith("("):
            inner, i = _sequence(tokens, i + 1)
            alternatives[-1].append(f"{piece}{inner})")
        else:
            alternatives[-1].append(piece)
        i += 1
    rendered, inherited = [], []
    for parts in alternatives:
        out = _scoped(parts)
        for flag in reversed(inherited):
            out = f"(?{flag}:{out})"
        inherited += [p.flags for p in parts if isinstance(p, _Flag)]
        rendered.append(out)
    return prefix + "|".join(rendered), i


@dataclass(frozen=True)
class _Flag:
    flags: str


def _scoped(parts: list[str | _Flag]) -> str:
    """One alternative: everything after an inline flag goes into a group scoped by it."""
    for index, part in enumerate(parts):
        if isinstance(part, _Flag):
            head = "".join(p for p in parts[:index] if isinstance(p, str))
            return f"{head}(?{part.flags}:{_scoped(parts[index + 1 :])})"
    return "".join(p for p in parts if isinstance(p, str))


_LAZY_PREFIX = "[\\w.-]{0,50}?"
_LEADING_FLAGS = re.compile(r"^\(\?[a-z]+\)")


def _fast(pattern: str) -> tuple[str, bool]:
    """The same expression, cheaper to search for, and whether its leading `\\b` was dropped.

    Python's `re` finds a literal start quickly but tries every position for one behind
    `\\b`, and gitleaks' lazy `[\\w.-]{0,50}?` prefix, which only widens the match to the
    left (never the secret), costs 50 steps at every position: a tenth of a second a megabyte
    each. The prefix is dropped; the boundary is checked on each match instead.
    """
    flags = _LEADING_FLAGS.match(pattern)
    head = flags.group(0) if flags else ""
    rest = pattern[len(head) :]
    while rest.startswith(_LAZY_PREFIX):
        rest = rest[len(_LAZY_PREFIX) :]
        if rest.startswith("(?i:" + _LAZY_PREFIX):
            rest = "(?i:" + rest[len("(?i:" + _LAZY_PREFIX) :]
    boundary = rest.startswith("\\b") and not _alternatives_at_top(rest)
    return head + (rest[2:] if boundary else rest), boundary


def _alternatives_at_top(pattern: str) -> bool:
    depth = 0
    for piece in _tokens(pattern):
        if piece == "|" and depth == 0:
            return True
        if piece.startswith("(") and not _FLAGS.fullmatch(piece):
            depth += 1
        elif piece == ")":
            depth -= 1
    return False


# --- loading --------------------------------------------------------------------------------


def _allowlist(data: dict[str, object]) -> Allowlist:
    regexes = tuple(re.compile(translate(str(r))) for r in data.get("regexes") or ())  # type: ignore[attr-defined]
    target = str(data.get("regexTarget") or "secret")
    if target not in ("secret", "match", "line"):
        raise ValueError(f"unknown gitleaks regexTarget {target!r}")
    return Allowlist(
        regexes=regexes,
        target=target,  # type: ignore[arg-type]
        stopwords=tuple(str(w).lower() for w in data.get("stopwords") or ()),  # type: ignore[attr-defined]
        needs_all=str(data.get("condition") or "OR").upper() == "AND",
        has_paths=bool(data.get("paths")),
    )


def _aios_rules() -> tuple[Rule, ...]:
    """AIOS's own rules: what it handles itself, and looser shapes than gitleaks' exact ones."""

    def rule(name: str, pattern: str, keywords: tuple[str, ...], *, prose: bool = False) -> Rule:
        fast, boundary = _fast(pattern)
        return Rule(
            f"aios:{name}",
            re.compile(fast),
            keywords,
            secret_group=1,
            boundary=boundary,
            prose_only=prose,
        )

    return (
        rule(
            "authorization-header",
            r"(?im)^\s*(?:proxy-)?authorization\s*:\s*(\S.*)$",
            ("authorization",),
            prose=True,
        ),
        rule(
            "api-key-header",
            # `x-api-key` ends in `api-key`; no optional quote in front: a literal start is fast.
            r"(?i)(?:authorization|api-key)[\"']?\s*[:=]\s*[\"']?"
            r"(?:(?:bearer|basic|token)\s+)?([^\s\"',}]{8,})",
            ("authorization", "api-key"),
            prose=True,
        ),
        rule(
            "bearer",
            r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/=-]{12,})",
            ("bearer", "basic"),
            prose=True,
        ),
        rule(
            "github-token",
            r"\b(gh[pousr]_[A-Za-z0-9]{20,255})\b",
            ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        ),
        rule("github-fine-grained-pat", r"\b(github_pat_[A-Za-z0-9_]{20,255})", ("github_pat_",)),
        rule("anthropic-key", r"\b(sk-ant-[A-Za-z0-9_-]{16,})", ("sk-ant-",)),
        rule("openai-key", r"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})", ("sk-",)),
        rule(
            "aws-access-key-id",
            r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b",
            ("akia", "asia", "abia", "acca"),
        ),
        rule(
            "aws-secret-access-key",
            r"(?i)aws_secret_access_key\s*[=:]\s*[\"']?([A-Za-z0-9/+=]{30,})",
            ("aws_secret_access_key",),
        ),
        rule(
            "private-key-block",
            # Cut-off keys too: a log tail or a truncated comment may lack the END line.
            r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(.+?)"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            ("private key-----",),
        ),
        rule("url-credentials", r"://[^/\s:@]+:([^@\s/]+)@", ("://",), prose=True),
    )


@functools.cache
def rule_set() -> RuleSet:
    """gitleaks' rules (less `EXCLUDED`) and AIOS's own, compiled once per process."""
    data = tomllib.loads(RULES_FILE.read_text())
    rules: list[Rule] = []
    path_rules: list[tuple[str, re.Pattern[str]]] = []
    for entry in data["rules"]:
        name = str(entry["id"])
        if name in EXCLUDED:
            continue
        if "regex" not in entry:
            if "path" in entry:
                path_rules.append((name, re.compile(translate(entry["path"]))))
            continue
        fast, boundary = _fast(translate(entry["regex"]))
        rules.append(
            Rule(
                id=name,
                pattern=re.compile(fast),
                boundary=boundary,
                path=re.compile(translate(entry["path"])) if "path" in entry else None,
                keywords=tuple(str(k).lower() for k in entry.get("keywords") or ()),
                entropy=float(entry.get("entropy") or 0.0),
                secret_group=int(entry.get("secretGroup") or 0),
                allowlists=tuple(_allowlist(a) for a in entry.get("allowlists") or ()),
            )
        )
    return RuleSet(
        rules=(*_aios_rules(), *rules),
        path_rules=tuple(path_rules),
        allowlist=_allowlist(data.get("allowlist") or {}),
    )
