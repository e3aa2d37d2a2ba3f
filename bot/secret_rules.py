"""The secret rules `bot/redact.py` applies: gitleaks' maintained set, on RE2, plus AIOS's own.

gitleaks (https://github.com/gitleaks/gitleaks) keeps the rule set most secret scanners
borrow: one regular expression per credential format, keywords that must appear before the
expression is worth running, an entropy floor, and allowlists for known false alarms. The
file `bot/gitleaks.toml` is its release, unchanged. Its expressions are RE2's, so they run on RE2
(`google-re2`) as gitleaks runs them: the same syntax and meaning, and time linear in the
text, which matters for text anyone can write (Python's backtracking `re` takes seconds on
crafted input for some of these rules). AIOS adds a few rules for what it handles itself
(authorization headers, credentials in URLs, cut-off private keys, the looser shapes of the
provider keys it uses), named `aios:*`.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import re2

GITLEAKS_VERSION = "8.30.1"
RULES_FILE = Path(__file__).with_name("gitleaks.toml")

EXCLUDED = {
    "generic-api-key": "matches any assignment to a variable named like key, token or secret "
    "with a random-looking value: in code and prose it raises too many false alarms to refuse "
    "pushes over, and the specific rules cover the real credential formats",
}
"""gitleaks rules AIOS leaves out, each with the reason."""

Target = Literal["secret", "match", "line"]
Regexp = Any
"""A compiled RE2 expression (`re2.compile`): `finditer`, `search`, `groups`, `groupindex`."""


@dataclass(frozen=True)
class Allowlist:
    """A gitleaks allowlist: a finding it matches is not a secret (e.g. `AKIA…EXAMPLE`)."""

    regexes: tuple[Regexp, ...] = ()
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
    pattern: Regexp
    """Compiled for UTF-8 bytes."""
    keywords: tuple[bytes, ...] = ()
    """Lower-case ASCII, one of which must occur in the text for the rule to run."""
    entropy: float = 0.0
    """A candidate whose Shannon entropy is not above this is not a secret."""
    secret_group: int = 0
    """0: the first non-empty group, else the whole match (gitleaks' rule)."""
    allowlists: tuple[Allowlist, ...] = ()
    path: Regexp | None = None
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
    path_rules: tuple[tuple[str, Regexp], ...]
    """Rules on file names alone (a `.p12` key store is a secret whatever it holds)."""
    allowlist: Allowlist
    """gitleaks' global allowlist (placeholders such as `${{ secrets.X }}`, `true`)."""


def shannon_entropy(text: str) -> float:
    """Bits per character, as gitleaks computes it."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


# --- loading --------------------------------------------------------------------------------


def _allowlist(data: dict[str, object]) -> Allowlist:
    regexes = tuple(re2.compile(str(r)) for r in data.get("regexes") or ())  # type: ignore[attr-defined]
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

    def rule(name: str, expression: str, words: tuple[str, ...], *, prose: bool = False) -> Rule:
        return Rule(
            f"aios:{name}",
            _bytes_pattern(expression),
            keywords=tuple(word.encode() for word in words),
            secret_group=1,
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
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
            ("private key-----",),
        ),
        rule("url-credentials", r"://[^/\s:@]+:([^@\s/]+)@", ("://",), prose=True),
    )


def _bytes_pattern(expression: str) -> Regexp:
    # Rules run on the text's UTF-8 bytes, encoded once: searching a str makes the binding
    # encode the whole text again for every rule.
    return re2.compile(expression.encode())


@functools.cache
def rule_set() -> RuleSet:
    """gitleaks' rules (less `EXCLUDED`) and AIOS's own, compiled once per process."""
    data = tomllib.loads(RULES_FILE.read_text())
    rules: list[Rule] = []
    path_rules: list[tuple[str, Regexp]] = []
    for entry in data["rules"]:
        name = str(entry["id"])
        if name in EXCLUDED:
            continue
        if "regex" not in entry:
            if "path" in entry:
                path_rules.append((name, re2.compile(entry["path"])))
            continue
        rules.append(
            Rule(
                id=name,
                pattern=_bytes_pattern(entry["regex"]),
                path=re2.compile(entry["path"]) if "path" in entry else None,
                keywords=tuple(str(k).lower().encode() for k in entry.get("keywords") or ()),
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
