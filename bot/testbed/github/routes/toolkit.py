"""Routing toolkit of the fake GitHub: handlers keyed by OpenAPI operation id, and their helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from bot.testbed.github.rest_json.renderer import Renderer
from bot.testbed.github.state import HookDelivery, Installation, Issue, Repo, State

Auth = Literal["jwt", "installation", "none"]
DOCS = "https://docs.github.com/rest"


class HTTPError(Exception):
    """Raised by a handler to answer with GitHub's error JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "documentation_url": DOCS}
        if self.errors is not None:
            body["errors"] = self.errors
        body["status"] = str(self.status)
        return body


def not_found() -> HTTPError:
    return HTTPError(404, "Not Found")


def validation_failed(resource: str, field_name: str, code: str) -> HTTPError:
    """422 the way GitHub reports a semantic error on one field (e.g. `already_exists`)."""
    error = {"resource": resource, "code": code, "field": field_name}
    return HTTPError(422, "Validation Failed", errors=[error])


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One authenticated request as a handler sees it (run under the fake's lock)."""

    state: State
    render: Renderer
    method: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    link_base: str  # absolute URL of this path, for Link headers
    installation: Installation | None = None
    token_repos: list[str] | None = None  # a token restricted to some repos, else None
    actor: str | None = None  # login the request acts as (the App's bot for installation tokens)
    redeliver: Callable[[HookDelivery], None] = lambda _delivery: None
    webhook_url: str | None = None
    violations: list[str] = field(default_factory=list)  # the fake's record, shared
    path: str = ""  # decoded, without the GHES prefix (as violations and records name it)

    def unsupported(self, what: str) -> HTTPError:
        """Record that the fake lacks `what` (so the test fails) and return a 501 to raise."""
        message = f"fake does not implement {what}"
        self.violations.append(f"{self.method} {self.path}: {message}")
        return HTTPError(501, message)

    def repo(self) -> Repo:
        repo = self.state.repo(f"{self.params['owner']}/{self.params['repo']}")
        if repo is None:
            raise not_found()
        return repo

    def issue(self) -> Issue:
        issue = self.repo().issues.get(int(self.params["issue_number"]))
        if issue is None:
            raise not_found()
        return issue

    def field(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default) if isinstance(self.body, dict) else default

    def int_query(self, name: str, default: int) -> int:
        value = self.query.get(name)
        return int(value) if value is not None and value.lstrip("-").isdigit() else default


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    operation_id: str
    auth: Auth
    handler: Handler


class RouteTable:
    """Handlers registered by operation id; tables compose like gidgethub Routers."""

    def __init__(self, *tables: RouteTable) -> None:
        self.routes: dict[str, Route] = {}
        for table in tables:
            for route in table.routes.values():
                self._add(route)

    def op(self, operation_id: str, *, auth: Auth = "installation") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._add(Route(operation_id, auth, handler))
            return handler

        return register

    def _add(self, route: Route) -> None:
        if route.operation_id in self.routes:
            raise ValueError(f"two handlers for {route.operation_id}")
        self.routes[route.operation_id] = route

    def get(self, operation_id: str) -> Route | None:
        return self.routes.get(operation_id)


def paginate(call: Call, items: Sequence[Any], *, status: int = 200) -> Reply:
    """Page-number pagination with GitHub's Link header (`per_page` ≤ 100, `page` from 1)."""
    per_page = min(max(call.int_query("per_page", 30), 1), 100)
    page = max(call.int_query("page", 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = list(items[(page - 1) * per_page : page * per_page])
    links = []
    if page < last:
        links += [(page + 1, "next"), (last, "last")]
    if page > 1:
        links = [(1, "first"), (page - 1, "prev"), *links]
    headers = {}
    if links:
        headers["Link"] = ", ".join(
            f'<{call.link_base}?{urlencode({**call.query, "page": n})}>; rel="{rel}"'
            for n, rel in links
        )
    return Reply(status, chunk, headers)
