"""The shared fake GitHub: a loopback aiohttp server that checks requests against the REST docs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from bot.testbed.github import auth as github_auth
from bot.testbed.github.dispatch import Dispatcher, Fault, Incoming, Recorded
from bot.testbed.github.faults import FAULT_MESSAGES, Held
from bot.testbed.github.hooks import SEND_TIMEOUT_S, HookSender, delivery_status
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.people.ci import CIResults
from bot.testbed.github.people.issues import People
from bot.testbed.github.people.reviews import Reviewers
from bot.testbed.github.rest_json.renderer import Renderer
from bot.testbed.github.routes.app import new_token
from bot.testbed.github.routes.app import routes as app_routes
from bot.testbed.github.routes.checks import routes as check_routes
from bot.testbed.github.routes.ci import routes as ci_routes
from bot.testbed.github.routes.hook_config import routes as hook_config_routes
from bot.testbed.github.routes.issues import routes as issue_routes
from bot.testbed.github.routes.pulls import routes as pull_routes
from bot.testbed.github.routes.reviews import routes as review_routes
from bot.testbed.github.routes.toolkit import RouteTable
from bot.testbed.github.seed import Seeding
from bot.testbed.github.state import ROLES, AppIdentity, HookConfig, HookDelivery, State, Token
from bot.testbed.loopback import LoopbackServer

DEFAULT_ROUTES = RouteTable(
    app_routes,
    issue_routes,
    pull_routes,
    check_routes,
    review_routes,
    ci_routes,
    hook_config_routes,
)
MAX_BODY_BYTES = 16 * 1024 * 1024
# The description composes an installation's `account` in lists as allOf(simple-user,
# enterprise), which no real account satisfies; GitHub returns a user or organization there.
# It also types a review comment's `line` and `position` as integers, but GitHub sends null
# for both once the comment is outdated.
SPEC_QUIRKS = re.compile(
    r"apps/list-installations 200\[\d+\]\['account'\]: "
    r"|pulls/[a-z-]*review-comment[a-z-]* 20[01](\[\d+\])?\['(line|position)'\]: None is not "
)


class FakeGitHub(Seeding, People, Reviewers, CIResults):
    """GitHub's REST API for one App, in memory, on 127.0.0.1:<free port> in its own thread.

    Test-side methods are safe to call from any thread; they take `lock`, which the
    server thread also holds while a request is handled. Repositories may be backed by
    bare git repositories (`create_git_repo`), which the agents push to with real git.
    GraphQL (POST /graphql) answers the few operations AIOS uses (see github_graphql) and
    fails loudly otherwise. People act through the mixins: comments and labels (People),
    reviews and replies (Reviewers), other Apps' CI results and statuses (CIResults).
    """

    def __init__(
        self,
        checker: OpenAPIChecker | None = None,
        *,
        app: AppIdentity | None = None,
        prefix: str = "",
        routes: RouteTable | None = None,
        html_url: str = "https://github.com",
    ) -> None:
        self.checker = checker or OpenAPIChecker.load()
        self.app = app or github_auth.generate_app()
        self.prefix = prefix.rstrip("/")
        self.html_url = html_url
        self.routes = routes or DEFAULT_ROUTES
        self.state = State(app=self.app)
        self.lock = threading.RLock()
        self.webhook_url: str | None = None  # where deliver()/redeliveries POST, when set
        self._held: list[Held] = []
        self._core = Dispatcher(self.checker, self.routes, self.state, self.prefix, html_url)
        self._hooks = HookSender(self.state, self.lock)
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_cleanup.append(self._hooks.close)
        self._server = LoopbackServer(app)

    generate_app = staticmethod(github_auth.generate_app)

    # -- identity ------------------------------------------------------------------------------

    @property
    def app_id(self) -> int:
        return self.app.app_id

    @property
    def slug(self) -> str:
        return self.app.slug

    @property
    def bot_login(self) -> str:
        return self.app.bot_login

    @property
    def private_key_pem(self) -> str:
        return self.app.private_key_pem

    @property
    def webhook_secret(self) -> str:
        return self.app.webhook_secret

    @property
    def url(self) -> str:
        """API base URL, e.g. http://127.0.0.1:41234 (or …/api/v3 in GHES mode)."""
        if not self._server.origin:
            raise RuntimeError("FakeGitHub.url is known once start() has returned")
        return self._server.origin + self.prefix

    def renderer(self) -> Renderer:
        """Shapes the fake's state as GitHub's JSON (API URLs are api.github.com until started)."""
        api = self._server.origin + self.prefix if self._server.origin else "https://api.github.com"
        return Renderer(self.state, api, self.html_url)

    def env(self) -> dict[str, str]:
        """Environment for an AIOS child process talking to this fake (and its git remotes)."""
        env = {
            "GITHUB_API_URL": self.url,
            "APP_ID": str(self.app_id),
            "PRIVATE_KEY": self.private_key_pem,
            "WEBHOOK_SECRET": self.webhook_secret,
        }
        if self.git_root is not None:
            env["GITHUB_GIT_URL"] = self.git_root.as_uri()
        return env

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self.stop_job_log_storage()
        self._server.stop()

    def __enter__(self) -> FakeGitHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- records -------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        with self.lock:
            return list(self._core.records)

    @property
    def violations(self) -> list[str]:
        with self.lock:
            return list(self._core.violations)

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        """Recorded requests with this method whose decoded path fully matches `path_regex`."""
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.requests
            if r.method == method.upper() and pattern.fullmatch(r.path) is not None
        ]

    def response_mismatches(self) -> list[str]:
        """Where the fake's own 2xx answers so far depart from the documented response schemas.

        For tests of the fake (a new route should pass this); known defects of the
        description itself are left out.
        """
        problems = [
            problem
            for r in self.requests
            if r.operation_id is not None and 200 <= r.status < 300
            for problem in self.checker.check_response(r.operation_id, r.status, r.response)
        ]
        return [p for p in problems if not SPEC_QUIRKS.match(p)]

    def forget_violations(self, matching: str = ".*") -> list[str]:
        """Drop (and return) recorded violations matching a regex, for tests that cause them."""
        pattern = re.compile(matching)
        with self.lock:
            dropped = [v for v in self._core.violations if pattern.search(v)]
            self._core.violations[:] = [v for v in self._core.violations if v not in dropped]
        return dropped

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll `predicate` (under the lock) until it holds; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if predicate():
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            time.sleep(0.01)

    async def await_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the same call as wait_until()
    ) -> None:
        """wait_until() for async tests, yielding to the caller's loop between polls."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if predicate():
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            await asyncio.sleep(0.01)

    # -- seeding -------------------------------------------------------------------------------

    @property
    def token_ttl(self) -> float:
        return self.state.token_ttl

    @token_ttl.setter
    def token_ttl(self, seconds: float) -> None:
        with self.lock:
            self.state.token_ttl = seconds

    @property
    def tokens_issued(self) -> int:
        with self.lock:
            return self.state.tokens_issued

    @property
    def non_collaborator_permission(self) -> str | None:
        return self.state.non_collaborator_permission

    @non_collaborator_permission.setter
    def non_collaborator_permission(self, value: str | None) -> None:
        if value not in (None, "auto", *ROLES):
            raise ValueError(f"use None (404), 'auto' or one of {ROLES}, not {value!r}")
        with self.lock:
            self.state.non_collaborator_permission = value

    def add_manifest_code(self, code: str, result_dict: dict[str, Any] | None = None) -> None:
        """Make `code` convertible once; the result is this App's, overlaid with `result_dict`."""
        with self.lock:
            self.state.manifest_codes[code] = result_dict

    def add_hook_delivery(
        self,
        *,
        event: str = "issues",
        action: str | None = "opened",
        status_code: int = 200,
        guid: str | None = None,
        installation_id: int | None = 1,
        repository_id: int | None = None,
        redelivery: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> HookDelivery:
        with self.lock:
            delivery = HookDelivery(
                id=self.state.next_id(),
                guid=guid or str(uuid.uuid4()),
                event=event,
                action=action,
                status_code=status_code,
                status=delivery_status(status_code),
                installation_id=installation_id,
                repository_id=repository_id,
                redelivery=redelivery,
                payload=payload,
            )
            self.state.deliveries.append(delivery)
            return delivery

    @property
    def redelivery_requests(self) -> list[int]:
        with self.lock:
            return list(self.state.redelivery_requests)

    def issue_token(self, installation_id: int = 1) -> str:
        """An installation token minted on the test side (not counted in tokens_issued)."""
        with self.lock:
            if installation_id not in self.state.installations:
                raise KeyError(f"no installation {installation_id}")
            token = Token(new_token(), installation_id, time.time() + self.state.token_ttl)
            self.state.tokens[token.token] = token
            return token.token

    def revoke_tokens(self) -> None:
        """Every installation token issued so far answers 401 "Bad credentials" from now on."""
        with self.lock:
            for token in self.state.tokens.values():
                token.revoked = True

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` matching requests with `status` instead of handling them."""
        if body is None:
            body = {
                "message": FAULT_MESSAGES.get(status, "Error"),
                "documentation_url": "https://docs.github.com/rest",
            }
        with self.lock:
            self._core.faults.append(
                Fault(
                    method.upper(), re.compile(path_regex), status, dict(headers or {}), body, times
                )
            )

    def hold(
        self, method: str, path_regex: str, *, body_contains: str = "", armed: bool = True
    ) -> Held:
        """Keep matching requests waiting until `release()`: a GitHub call that never returns,
        for killing the process that made it at exactly that point. `armed=False` waits
        for `Held.arm()` to start holding."""
        held = Held(method.upper(), re.compile(path_regex), body_contains, armed=armed)
        with self.lock:
            self._held.append(held)
        return held

    # -- webhooks ------------------------------------------------------------------------------

    def set_hook_config(self, **changes: Any) -> HookConfig:
        """Change the App's webhook configuration (`url`, `content_type`, `secret_set`,
        `insecure_ssl`), as a maintainer would on the App's settings page."""
        with self.lock:
            self.state.hook_config = dataclasses.replace(self.state.hook_config, **changes)
            return self.state.hook_config

    def deliver(self, event: str, payload: dict[str, Any]) -> HookDelivery:
        """POST a signed webhook to `webhook_url` now (from a sync test) and record the delivery."""
        return self._server.submit(self._deliver(event, payload)).result(timeout=SEND_TIMEOUT_S)

    async def adeliver(self, event: str, payload: dict[str, Any]) -> HookDelivery:
        """deliver() for async tests: the receiver may run on the caller's loop."""
        return await asyncio.wrap_future(self._server.submit(self._deliver(event, payload)))

    async def _deliver(self, event: str, payload: dict[str, Any]) -> HookDelivery:
        if self.webhook_url is None:
            raise RuntimeError("set FakeGitHub.webhook_url to deliver webhooks")
        return await self._hooks.send(self.webhook_url, event, payload)

    def _redeliver(self, delivery: HookDelivery) -> None:
        # Runs on the server loop inside a handler; without a receiver only the request is kept.
        if self.webhook_url is not None and delivery.payload is not None:
            self._hooks.send_later(self.webhook_url, delivery)

    # -- request handling ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        with self.lock:
            method, path = request.method.upper(), request.rel_url.path
            held = next((h for h in self._held if h.matches(method, path, raw)), None)
        if held is not None and not await held.wait(request):
            return web.Response(status=499)  # nobody is listening any more
        incoming = Incoming(
            method=request.method.upper(),
            raw_path=request.rel_url.raw_path,
            query={key: request.rel_url.query[key] for key in request.rel_url.query},
            headers={key.lower(): value for key, value in request.headers.items()},
            body=None,
        )
        if raw.strip():
            try:
                incoming.body = json.loads(raw)
            except ValueError:
                incoming.bad_json = True
        with self.lock:
            reply = self._core.dispatch(
                incoming,
                origin=self._server.origin,
                webhook_url=self.webhook_url,
                redeliver=self._redeliver,
            )
        headers = CIMultiDict(self._default_headers())
        headers.update(reply.headers)  # case-insensitively, so injected headers win
        if reply.status == 204 or reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        headers["Content-Type"] = "application/json; charset=utf-8"
        return web.Response(status=reply.status, body=json.dumps(reply.body), headers=headers)

    def _default_headers(self) -> dict[str, str]:
        return {
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": uuid.uuid4().hex[:20].upper(),
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
        }
