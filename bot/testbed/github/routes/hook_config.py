"""Fake GitHub routes for the App's webhook configuration: `GET` and `PATCH /app/hook/config`."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.testbed.github.routes.toolkit import Call, HTTPError, Reply, RouteTable

routes = RouteTable()

CONTENT_TYPES = ("json", "form")


def _render(call: Call) -> dict[str, Any]:
    config = call.state.hook_config
    url = config.url if config.url is not None else call.webhook_url
    body: dict[str, Any] = {
        "url": url or "",
        "content_type": config.content_type,
        "insecure_ssl": config.insecure_ssl,
    }
    if config.secret_set:
        body["secret"] = "********"  # noqa: S105 - GitHub masks it: set, but never shown
    return body


@routes.op("apps/get-webhook-config-for-app", auth="jwt")
def get_hook_config(call: Call) -> Reply:
    return Reply(200, _render(call))


@routes.op("apps/update-webhook-config-for-app", auth="jwt")
def update_hook_config(call: Call) -> Reply:
    changes: dict[str, Any] = {}
    if (url := call.field("url")) is not None:
        if not str(url).startswith(("http://", "https://")):
            raise HTTPError(422, "Invalid request.\n\nurl is not a valid URL.")
        changes["url"] = url
    if (content_type := call.field("content_type")) is not None:
        if content_type not in CONTENT_TYPES:
            raise HTTPError(422, f"Invalid request.\n\n{content_type!r} is not a content type.")
        changes["content_type"] = content_type
    if (insecure_ssl := call.field("insecure_ssl")) is not None:
        changes["insecure_ssl"] = str(insecure_ssl)
    if (secret := call.field("secret")) is not None:
        changes["secret_set"] = bool(secret)
    call.state.hook_config = dataclasses.replace(call.state.hook_config, **changes)
    return Reply(200, _render(call))
