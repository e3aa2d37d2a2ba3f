"""Turn a provider's HTTP failure into one of the runtime's typed errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.agents.errors import (
    AuthError,
    BadRequestError,
    LLMError,
    OverloadedError,
    RateLimitedError,
    SpendLimitError,
)
from bot.redact import redact

MAX_RETRY_AFTER_S = 60.0
"""A longer Retry-After than this is treated as "not soon": better to fall back."""

_SPEND_LIMIT = re.compile(
    r"spend(?:ing)? limit|usage limit|credit balance|insufficient[_ ]quota"
    r"|exceeded your current quota|billing|out of credits|payment required",
    re.I,
)
_SPEND_LIMIT_TYPES = {"billing_error", "insufficient_quota"}


def error_details(body: Any) -> tuple[str, str]:
    """(error type or code, message) from an Anthropic- or OpenAI-shaped error body."""
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            kind = str(err.get("type") or err.get("code") or "")
            code = str(err.get("code") or "")
            message = str(err.get("message") or "")
            if code in _SPEND_LIMIT_TYPES:
                kind = code
            return kind, message
        if isinstance(err, str):
            return "", err
    if isinstance(body, str):
        return "", body[:500]
    return "", ""


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the provider asked us to wait, from `retry-after-ms` or `retry-after`."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if value >= 0:
            return value
    return None


def classify(
    status: int,
    body: Any,
    headers: Mapping[str, str] | None,
    *,
    provider: str,
    model: str,
    secrets: tuple[str, ...] = (),
) -> LLMError:
    """Map one failed HTTP answer to a typed error, keeping the provider's message."""
    kind, message = error_details(body)
    message = redact(message or f"HTTP {status}", secrets)
    common: dict[str, Any] = {"provider": provider, "model": model, "status": status}
    spend = kind in _SPEND_LIMIT_TYPES or bool(_SPEND_LIMIT.search(message))
    if status == 402 or (status in (400, 403, 429) and spend):
        return SpendLimitError(message, **common)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after(headers), **common)
    if status in (401, 403):
        return AuthError(message, **common)
    if status in (408, 409) or status >= 500:
        return OverloadedError(message, retry_after=retry_after(headers), **common)
    return BadRequestError(message, **common)
