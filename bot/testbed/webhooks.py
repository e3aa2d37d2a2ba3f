"""GitHub's official webhook payload examples, and the headers GitHub signs a delivery with."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from bot.testbed import octokit

USER_AGENT = "GitHub-Hookshot/a1b2c3d"


def load_examples(path: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Event name -> example payloads, from @octokit/webhooks-examples (fetched on first use)."""
    return copy.deepcopy(_load(path or octokit.webhook_examples_json()))


@cache
def _load(path: Path) -> dict[str, list[dict[str, Any]]]:
    # Parsed once per process (4 MB); callers only ever receive deep copies.
    with path.open("rb") as handle:
        index = json.load(handle)
    return {entry["name"]: entry["examples"] for entry in index}


def example(event: str, action: str | None = None, *, path: Path | None = None) -> dict[str, Any]:
    """A deep copy of the first official example of `event` (with `action`, when given)."""
    examples = _load(path or octokit.webhook_examples_json())
    if event not in examples:
        raise KeyError(f"no webhook example for event {event!r}; known: {sorted(examples)}")
    for payload in examples[event]:
        if action is None or payload.get("action") == action:
            return copy.deepcopy(payload)
    actions = sorted({str(p.get("action")) for p in examples[event]})
    raise KeyError(f"no {event!r} example with action {action!r}; examples have {actions}")


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value GitHub sends: `sha256=<hex HMAC of the raw body>`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def delivery_headers(
    event: str, body: bytes, secret: str, delivery_id: str | None = None
) -> dict[str, str]:
    """Headers of a webhook delivery as GitHub sends them, signed with `secret`."""
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Serialise a payload the way a delivery body is sent (compact JSON, UTF-8)."""
    return json.dumps(payload, separators=(",", ":")).encode()
