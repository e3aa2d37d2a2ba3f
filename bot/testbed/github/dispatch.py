"""The sans-I/O core of the fake GitHub: check, authenticate, route and record one request."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from bot.testbed.github import auth as github_auth
from bot.testbed.github import permissions as github_permissions
from bot.testbed.github.graphql import endpoint as github_graphql
from bot.testbed.github.openapi import NOT_JSON, CheckResult, OpenAPIChecker
from bot.testbed.github.rest_json.renderer import Renderer
from bot.testbed.github.routes.toolkit import Call, HTTPError, Reply, Route, RouteTable
from bot.testbed.github.state import HookDelivery, Installation, State, Token

REDACTED = "<redacted>"
GIT_OVER_HTTP = re.compile(r"/[^/]+/[^/]+\.git(/|$)")
GIT_HINT = (
    "git over HTTP is not served by the fake; back the repository with "
    "create_git_repo() and give AIOS fake.env() (GITHUB_GIT_URL=file://…)"
)
GRAPHQL_UNAUTHENTICATED = "This endpoint requires you to be authenticated."
GRAPHQL_AUTH_DOCS = (
    "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"
)


def graphql_path(prefix: str) -> str:
    """Where GraphQL lives: /graphql on github.com, /api/graphql beside GHES's /api/v3."""
    return (prefix.removesuffix("/v3") if prefix.endswith("/api/v3") else prefix) + "/graphql"


@dataclass(frozen=True)
class Recorded:
    """One request the fake answered. Neither `headers` nor `response` holds a credential."""

    method: str
    path: str  # decoded, without the GHES prefix
    query: dict[str, str]
    json: Any
    headers: dict[str, str]  # lower-case names; authorization is "<scheme> <redacted>"
    status: int
    operation_id: str | None
    auth: str  # "jwt", "installation:<id>", "none" or "invalid"
    response: Any = None


@dataclass
class Incoming:
    method: str
    raw_path: str  # percent-encoded, with any prefix
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any
    bad_json: bool = False


@dataclass
class Fault:
    method: str  # upper case, or "*"
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any
    remaining: int


@dataclass
class _Auth:
    label: str
    installation: Installation | None = None
    token: Token | None = None
    error: Reply | None = None


@dataclass
class Dispatcher:
    """Answers requests from `state`; the caller holds the fake's lock around `dispatch`."""

    checker: OpenAPIChecker
    routes: RouteTable
    state: State
    prefix: str = ""
    html_url: str = "https://github.com"
    records: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def dispatch(
        self,
        incoming: Incoming,
        *,
        origin: str,
        webhook_url: str | None = None,
        redeliver: Callable[[HookDelivery], None] = lambda _delivery: None,
    ) -> Reply:
        """Answer one request, recording it and every way it departs from GitHub's description."""
        if incoming.raw_path == graphql_path(self.prefix):
            return self._graphql(incoming)
        path = incoming.raw_path
        check = CheckResult(None, None, kind="undocumented")
        if self.prefix and not (path == self.prefix or path.startswith(self.prefix + "/")):
            check.violations.append(
                f"{incoming.method} {path}: outside the API prefix {self.prefix}"
            )
        else:
            path = path[len(self.prefix) :] or "/"
            body = NOT_JSON if incoming.bad_json else incoming.body
            check = self.checker.check(
                incoming.method, path, incoming.query, body, incoming.headers
            )
        if check.kind == "undocumented" and GIT_OVER_HTTP.match(incoming.raw_path):
            check.violations = [f"{incoming.method} {incoming.raw_path}: {GIT_HINT}"]
        self.violations.extend(check.violations)
        auth = _Auth("none")
        reply = self._fault(incoming.method, unquote(path))
        if reply is None:
            call = Call(
                state=self.state,
                render=Renderer(self.state, origin + self.prefix, self.html_url),
                method=incoming.method,
                params=check.path_params,
                query=incoming.query,
                body=incoming.body,
                link_base=origin + incoming.raw_path,
                path=unquote(path),
                redeliver=redeliver,
                webhook_url=webhook_url,
                violations=self.violations,
            )
            reply, auth = self._answer(incoming, path, check, call)
        self.records.append(
            Recorded(
                method=incoming.method,
                path=unquote(path),
                query=dict(incoming.query),
                json=incoming.body,
                headers=_redact_headers(incoming.headers),
                status=reply.status,
                operation_id=check.operation_id,
                auth=auth.label,
                response=_redact_body(reply.body),
            )
        )
        return reply

    def _answer(
        self, incoming: Incoming, path: str, check: CheckResult, call: Call
    ) -> tuple[Reply, _Auth]:
        none = _Auth("none")
        if check.kind == "undocumented":
            return _error(HTTPError(404, "Not Found")), none
        if incoming.bad_json:
            return _error(HTTPError(400, "Problems parsing JSON")), none
        route = self.routes.get(check.operation_id or "")
        if route is None:
            message = f"fake does not implement {check.operation_id}"
            self.violations.append(f"{incoming.method} {path}: {message}")
            return _error(HTTPError(501, message)), none
        auth = self._authenticate(route, incoming.headers.get("authorization"), check.path_params)
        if auth.error is None and auth.token is not None:
            needed = github_permissions.REQUIRED.get(route.operation_id)
            if needed is None:
                message = f"fake has no permission listed for {route.operation_id}"
                self.violations.append(f"{incoming.method} {path}: {message}")
            elif not github_permissions.allows(auth.token.permissions, needed):
                # GitHub's answer to a token minted without the permission the call needs.
                refused = HTTPError(403, github_permissions.NOT_ACCESSIBLE)
                return _error(refused), auth
        if auth.error is not None:
            return auth.error, auth
        if check.violations:
            # GitHub reports a body that fails its schema as 422 "Invalid request".
            return _error(HTTPError(422, "Invalid request.\n\n" + check.violations[0])), auth
        call.installation = auth.installation
        call.token_repos = auth.token.repos if auth.token else None
        call.actor = self.state.app.bot_login if auth.installation else None
        try:
            return route.handler(call), auth
        except HTTPError as exc:
            return _error(exc), auth

    def _authenticate(self, route: Route, header: str | None, params: dict[str, str]) -> _Auth:
        if route.auth == "none":
            return _Auth("none")
        if route.auth == "jwt":
            problem = github_auth.verify_app_jwt(self.state.app, header)
            if problem is None:
                return _Auth("jwt")
            return _Auth("invalid", error=_error(HTTPError(401, problem)))
        token = github_auth.find_token(self.state, header)
        if token is None:
            message = "Requires authentication" if not header else github_auth.BAD_CREDENTIALS
            return _Auth("invalid", error=_error(HTTPError(401, message)))
        installation = self.state.installations[token.installation_id]
        auth = _Auth(f"installation:{installation.id}", installation, token)
        if "owner" in params and "repo" in params:
            visible = token.repos if token.repos is not None else installation.repos
            wanted = f"{params['owner']}/{params['repo']}".lower()
            if wanted not in {name.lower() for name in visible}:
                # GitHub hides repositories a token cannot see behind a 404.
                return replace(auth, error=_error(HTTPError(404, "Not Found")))
        return auth

    def _graphql(self, incoming: Incoming) -> Reply:
        """POST /graphql: outside the REST description, installation tokens only."""
        token = github_auth.find_token(self.state, incoming.headers.get("authorization"))
        auth = f"installation:{token.installation_id}" if token else "invalid"
        reply = self._fault(incoming.method, incoming.raw_path) or self._graphql_answer(
            incoming, token
        )
        self.records.append(
            Recorded(
                method=incoming.method,
                path=incoming.raw_path,
                query=dict(incoming.query),
                json=incoming.body,
                headers=_redact_headers(incoming.headers),
                status=reply.status,
                operation_id=None,
                auth=auth,
                response=reply.body,
            )
        )
        return reply

    def _graphql_answer(self, incoming: Incoming, token: Token | None) -> Reply:
        if incoming.method != "POST":
            return _error(HTTPError(404, "Not Found"))
        if token is None:
            header = incoming.headers.get("authorization")
            message = github_auth.BAD_CREDENTIALS if header else GRAPHQL_UNAUTHENTICATED
            return Reply(401, {"message": message, "documentation_url": GRAPHQL_AUTH_DOCS})
        installation = self.state.installations[token.installation_id]
        visible = token.repos if token.repos is not None else installation.repos
        query = (
            str((incoming.body or {}).get("query") or "") if isinstance(incoming.body, dict) else ""
        )
        needed = github_permissions.graphql_needs(query)
        if not github_permissions.allows(token.permissions, needed):
            return Reply(
                200,
                {
                    "data": None,
                    "errors": [{"type": "FORBIDDEN", "message": github_permissions.NOT_ACCESSIBLE}],
                },
            )
        answer = github_graphql.execute(self.state, incoming.body, visible, html=self.html_url)
        if answer.unsupported is not None:
            self.violations.append(
                f"POST {incoming.raw_path}: fake does not implement GraphQL: {answer.unsupported}"
            )
        return Reply(200, answer.body)

    def _fault(self, method: str, path: str) -> Reply | None:
        for fault in self.faults:
            if fault.method in (method, "*") and fault.path.fullmatch(path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return Reply(fault.status, fault.body, dict(fault.headers))
        return None


def _error(exc: HTTPError) -> Reply:
    return Reply(exc.status, exc.body(), dict(exc.headers))


def _redact_headers(headers: dict[str, str]) -> dict[str, str]:
    clean = dict(headers)
    if "authorization" in clean:
        scheme, _ = github_auth.split_authorization(clean["authorization"])
        clean["authorization"] = f"{scheme} {REDACTED}".strip()
    return clean


def _redact_body(body: Any) -> Any:
    # Installation tokens are the one secret the fake hands out in a body.
    if isinstance(body, dict) and isinstance(body.get("token"), str):
        return {**body, "token": REDACTED}
    return body
