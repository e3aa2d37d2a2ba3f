"""Fake GitHub routes for the App itself: identity, installations, tokens, manifest, deliveries."""

from __future__ import annotations

import secrets
import string
import time
from typing import Any
from urllib.parse import urlencode

from bot.testbed.github.permissions import exceeding
from bot.testbed.github.routes.toolkit import (
    Call,
    HTTPError,
    Reply,
    RouteTable,
    not_found,
    paginate,
)
from bot.testbed.github.state import HookDelivery, Installation, Token, iso

routes = RouteTable()

TOKEN_ALPHABET = string.ascii_letters + string.digits


def new_token() -> str:
    """A token shaped like GitHub's installation tokens (`ghs_` + 36 characters)."""
    return "ghs_" + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(36))


def _installation(call: Call) -> Installation:
    installation = call.state.installations.get(int(call.params["installation_id"]))
    if installation is None:
        raise not_found()
    return installation


@routes.op("apps/get-authenticated", auth="jwt")
def get_app(call: Call) -> Reply:
    return Reply(200, call.render.integration())


@routes.op("apps/list-installations", auth="jwt")
def list_installations(call: Call) -> Reply:
    installations = sorted(call.state.installations.values(), key=lambda i: i.id)
    return paginate(call, [call.render.installation(i) for i in installations])


@routes.op("apps/get-installation", auth="jwt")
def get_installation(call: Call) -> Reply:
    return Reply(200, call.render.installation(_installation(call)))


@routes.op("apps/get-repo-installation", auth="jwt")
def get_repo_installation(call: Call) -> Reply:
    installation = call.state.installation_for(call.repo().full_name)
    if installation is None:
        raise not_found()
    return Reply(200, call.render.installation(installation))


@routes.op("apps/create-installation-access-token", auth="jwt")
def create_access_token(call: Call) -> Reply:
    installation = _installation(call)
    repos = _requested_repos(call, installation)
    requested = call.field("permissions")
    if requested is not None and exceeding(requested, installation.permissions):
        raise HTTPError(422, "The permissions requested are not granted to this installation.")
    token = Token(
        token=new_token(),
        installation_id=installation.id,
        expires_at=time.time() + call.state.token_ttl,
        repos=repos,
        permissions=call.field("permissions"),
    )
    call.state.tokens[token.token] = token
    call.state.tokens_issued += 1
    visible = repos if repos is not None else installation.repos
    body: dict[str, Any] = {
        "token": token.token,
        "expires_at": iso(token.expires_at),
        "permissions": token.permissions or dict(installation.permissions),
        "repository_selection": "selected"
        if repos is not None
        else installation.repository_selection,
    }
    if repos is not None:
        body["repositories"] = [call.render.repo(r, full=False) for r in _repos(call, visible)]
    return Reply(201, body)


def _requested_repos(call: Call, installation: Installation) -> list[str] | None:
    names = call.field("repositories")
    ids = call.field("repository_ids")
    if names is None and ids is None:
        return None
    granted = {r.full_name: r for r in _repos(call, installation.repos)}
    chosen: list[str] = []
    for name in names or []:
        matches = [full for full, r in granted.items() if r.name.lower() == str(name).lower()]
        if not matches:
            raise HTTPError(422, f"There is at least one repository that does not exist or is "
                                 f"not accessible to the parent installation: {name}")  # fmt: skip
        chosen += matches
    for ident in ids or []:
        matches = [full for full, r in granted.items() if r.id == ident]
        if not matches:
            raise HTTPError(422, f"The repository id {ident} is not accessible to the installation")
        chosen += matches
    return chosen


def _repos(call: Call, names: list[str]) -> list[Any]:
    return [repo for name in names if (repo := call.state.repo(name)) is not None]


@routes.op("apps/list-repos-accessible-to-installation")
def list_installation_repos(call: Call) -> Reply:
    assert call.installation is not None
    names = call.token_repos if call.token_repos is not None else call.installation.repos
    repos = [call.render.repo(repo, full=False) for repo in _repos(call, names)]
    page = paginate(call, repos)
    body = {
        "total_count": len(repos),
        "repository_selection": call.installation.repository_selection,
        "repositories": page.body,
    }
    return Reply(200, body, page.headers)


@routes.op("apps/create-from-manifest", auth="none")
def convert_manifest(call: Call) -> Reply:
    code = call.params["code"]
    if code not in call.state.manifest_codes:
        raise not_found()
    overrides = call.state.manifest_codes.pop(code)  # codes are single use
    app = call.state.app
    body = {
        **call.render.integration(),
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "webhook_secret": app.webhook_secret,
        "pem": app.private_key_pem,
    }
    body.update(overrides or {})
    return Reply(201, body)


@routes.op("apps/list-webhook-deliveries", auth="jwt")
def list_deliveries(call: Call) -> Reply:
    """Newest first, cursor-paginated like GitHub (`cursor=v1_<id>` of the next item)."""
    per_page = min(max(call.int_query("per_page", 30), 1), 100)
    deliveries = sorted(call.state.deliveries, key=lambda d: d.id, reverse=True)
    status_filter = call.query.get("status")
    if status_filter == "success":
        deliveries = [d for d in deliveries if 200 <= d.status_code < 300]
    elif status_filter == "failure":
        deliveries = [d for d in deliveries if not 200 <= d.status_code < 300]
    cursor = call.query.get("cursor", "")
    if cursor:
        start = _cursor_id(cursor)
        deliveries = [d for d in deliveries if d.id <= start]
    page, rest = deliveries[:per_page], deliveries[per_page:]
    headers = {}
    if rest:
        query = {**call.query, "per_page": per_page, "cursor": f"v1_{rest[0].id}"}
        headers["Link"] = f'<{call.link_base}?{urlencode(query)}>; rel="next"'
    return Reply(200, [call.render.delivery(d) for d in page], headers)


def _cursor_id(cursor: str) -> int:
    digits = cursor.removeprefix("v1_")
    if not digits.isdigit():
        raise HTTPError(400, "Invalid cursor")
    return int(digits)


def _delivery(call: Call) -> HookDelivery:
    ident = int(call.params["delivery_id"])
    for delivery in call.state.deliveries:
        if delivery.id == ident:
            return delivery
    raise not_found()


@routes.op("apps/get-webhook-delivery", auth="jwt")
def get_delivery(call: Call) -> Reply:
    delivery = _delivery(call)
    body = call.render.delivery(delivery)
    body.update(
        url=call.webhook_url or "",
        request={"headers": {"X-GitHub-Event": delivery.event}, "payload": delivery.payload},
        response={"headers": None, "payload": None},
    )
    return Reply(200, body)


@routes.op("apps/redeliver-webhook-delivery", auth="jwt")
def redeliver(call: Call) -> Reply:
    delivery = _delivery(call)
    call.state.redelivery_requests.append(delivery.id)
    call.redeliver(delivery)
    return Reply(202, {})
