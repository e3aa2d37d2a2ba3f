"""Mask secrets (tokens, keys, auth headers) in any text before AIOS logs, stores or posts it."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[REDACTED]"
MIN_EXPLICIT_SECRET_LENGTH = 6
"""Explicit secrets shorter than this are ignored: masking every "abc" would garble the text."""

_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Header values first, so the token inside is masked as a whole with its scheme.
    (re.compile(r"(?im)^(\s*(?:proxy-)?authorization\s*:\s*)\S.*$"), r"\g<1>" + MASK),
    (
        re.compile(
            r"(?i)((?:\"|')?(?:authorization|x-api-key|api-key)(?:\"|')?\s*[:=]\s*(?:\"|')?)"
            r"(?:(?:bearer|basic|token)\s+)?[^\s\"',}]+"
        ),
        r"\g<1>" + MASK,
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{12,}"), r"\g<1> " + MASK),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,255}"), MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,255}\b"), MASK),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{16,}"), MASK),
    (re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), MASK),
    (
        re.compile(r"(?i)(aws_secret_access_key\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{30,}"),
        r"\g<1>" + MASK,
    ),
    # Credentials embedded in URLs: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\g<1>" + MASK + "@"),
)


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Return `text` with every recognised secret, and every value in `extra_secrets`, masked.

    Explicit secrets are replaced wherever they occur (longest first, so a secret that
    contains another is masked whole); then token, key and header patterns are masked.
    """
    if not text:
        return text
    secrets = sorted(
        {s for s in extra_secrets if s and len(s) >= MIN_EXPLICIT_SECRET_LENGTH},
        key=len,
        reverse=True,
    )
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _PEM_BLOCK.sub(lambda m: f"-----BEGIN {m.group(1)}PRIVATE KEY-----{MASK}", text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
