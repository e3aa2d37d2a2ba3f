"""Tests of the shared GitHub fake: OpenAPI checks, App auth, state, paging, faults, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import gidgethub
import httpx2
import jwt
import pytest
from aiohttp import web
from gidgethub import apps, sansio
from gidgethub.httpx import GitHubAPI

from bot.testbed import octokit, webhooks
from bot.testbed.github import FakeGitHub
from bot.testbed.github.auth import generate_app
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.routes.app import routes as app_routes
from bot.testbed.github.routes.hook_config import routes as hook_config_routes
from bot.testbed.github.routes.issues import routes as issue_routes
from bot.testbed.github.state import AppIdentity
from bot.testbed.loopback import LoopbackServer

REPO = "octo-org/hello"


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient() as client:
        yield client


def app_api(fake: FakeGitHub, http: httpx2.AsyncClient) -> GitHubAPI:
    """A client authenticating as the App (gidgethub signs the JWT itself)."""
    return GitHubAPI(
        http,
        "aios-test",
        base_url=fake.url,
        app_id=str(fake.app_id),
        private_key=fake.private_key_pem,
    )


async def installation_api(fake: FakeGitHub, http: httpx2.AsyncClient) -> GitHubAPI:
    """A client holding an installation token obtained through the API, as the bot does."""
    token = await apps.get_installation_access_token(
        GitHubAPI(http, "aios-test", base_url=fake.url),
        installation_id="1",
        app_id=str(fake.app_id),
        private_key=fake.private_key_pem,
    )
    return GitHubAPI(http, "aios-test", base_url=fake.url, oauth_token=token["token"])


# -- OpenAPI checking ---------------------------------------------------------------------------


def test_checker_matches_templates_literals_first_and_decodes_params(
    openapi_checker: OpenAPIChecker,
) -> None:
    check = openapi_checker.check
    assert check("GET", "/repos/o/r/issues/comments", {}, None, {}).operation_id == (
        "issues/list-comments-for-repo"
    )
    label = check("GET", "/repos/o/r/labels/aios%3Acto", {}, None, {})
    assert (label.operation_id, label.path_params["name"]) == ("issues/get-label", "aios:cto")
    ref = check("GET", "/repos/o/r/git/ref/heads/main", {}, None, {})
    assert (ref.operation_id, ref.path_params["ref"]) == ("git/get-ref", "heads/main")
    assert check("GET", "/repos/o/r/issues/abc", {}, None, {}).kind == "undocumented"


def test_checker_reports_bodies_query_and_nullable(openapi_checker: OpenAPIChecker) -> None:
    check = openapi_checker.check
    missing = check("POST", "/repos/o/r/labels", {}, {"color": "ff0000"}, {})
    assert missing.violations == [
        "POST /repos/o/r/labels (issues/create-label): request body: 'name' is a required property"
    ]
    wrong_type = check("POST", "/repos/o/r/issues/1/comments", {}, {"body": 5}, {})
    assert "5 is not of type 'string'" in wrong_type.violations[0]
    # `milestone` is a nullable oneOf and `assignee` a nullable string: null is allowed.
    issue = {"title": "t", "milestone": None, "assignee": None}
    assert check("POST", "/repos/o/r/issues", {}, issue, {}).violations == []
    assert check("POST", "/repos/o/r/issues", {}, {"title": "t", "body": None}, {}).violations
    assert (
        "missing required query parameter 'q'"
        in check("GET", "/search/issues", {}, None, {}).violations[0]
    )
    assert check("GET", "/repos/o/r/issues/1/comments", {"per_page": "x"}, None, {}).violations


async def test_undocumented_path_is_a_violation(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    response = await http.get(f"{github_fake.url}/repos/octo-org/hello/nonsense")
    assert response.status_code == 404
    assert github_fake.forget_violations() == [
        "GET /repos/octo-org/hello/nonsense: not a documented GitHub REST route"
    ]


async def test_label_without_name_is_refused_and_recorded(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    gh = await installation_api(github_fake, http)
    with pytest.raises(gidgethub.InvalidField) as raised:
        await gh.post("/repos/octo-org/hello/labels", data={"color": "ff0000"})
    assert raised.value.status_code == 422
    assert github_fake.forget_violations() == [
        "POST /repos/octo-org/hello/labels (issues/create-label): "
        "request body: 'name' is a required property"
    ]
    assert github_fake.repo(REPO).labels == {}


async def test_documented_route_the_fake_lacks_answers_501(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    gh = await installation_api(github_fake, http)
    with pytest.raises(gidgethub.GitHubBroken) as raised:
        await gh.getitem("/repos/octo-org/hello/releases")
    assert raised.value.status_code == 501
    assert github_fake.forget_violations() == [
        "GET /repos/octo-org/hello/releases: fake does not implement repos/list-releases"
    ]


async def test_malformed_json_is_400(github_fake: FakeGitHub, http: httpx2.AsyncClient) -> None:
    token = github_fake.issue_token()
    response = await http.post(
        f"{github_fake.url}/repos/octo-org/hello/labels",
        content=b"{not json",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["message"]) == (400, "Problems parsing JSON")
    assert len(github_fake.forget_violations("not valid JSON")) == 1


# -- state through the API ---------------------------------------------------------------------


async def test_label_create_is_visible_in_state_and_duplicates_are_422(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    gh = await installation_api(github_fake, http)
    created = await gh.post(
        "/repos/{owner}/{repo}/labels",
        url_vars={"owner": "octo-org", "repo": "hello"},
        data={"name": "aios:cto", "color": "5319e7", "description": "CTO agent"},
    )
    assert created["url"] == f"{github_fake.url}/repos/octo-org/hello/labels/aios%3Acto"
    label = github_fake.repo(REPO).labels["aios:cto"]
    assert (label.name, label.color, label.description) == ("aios:cto", "5319e7", "CTO agent")
    fetched = await gh.getitem("/repos/octo-org/hello/labels/{name}", url_vars={"name": "AIOS:CTO"})
    assert fetched["id"] == created["id"]
    with pytest.raises(gidgethub.InvalidField) as raised:
        await gh.post("/repos/octo-org/hello/labels", data={"name": "AIOS:cto"})
    assert raised.value.status_code == 422
    assert github_fake.calls("POST", r"/repos/octo-org/hello/labels")[-1].response["errors"] == [
        {"resource": "Label", "code": "already_exists", "field": "name"}
    ]


async def test_issue_labels_and_close(github_fake: FakeGitHub, http: httpx2.AsyncClient) -> None:
    issue = github_fake.add_issue(REPO, "Add pagination", user="alice", labels=["bug"])
    gh = await installation_api(github_fake, http)
    labels = await gh.post(
        "/repos/octo-org/hello/issues/{n}/labels",
        url_vars={"n": issue.number},
        data={"labels": ["aios"]},
    )
    assert [label["name"] for label in labels] == ["bug", "aios"]
    closed = await gh.patch(
        f"/repos/octo-org/hello/issues/{issue.number}", data={"state": "closed"}
    )
    assert (closed["state"], closed["state_reason"], closed["closed_by"]["login"]) == (
        "closed",
        "completed",
        "aios[bot]",
    )
    assert closed["user"] == {**closed["user"], "login": "alice", "type": "User"}


async def test_reactions_dedupe_like_github(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    issue = github_fake.add_issue(REPO, "Hello")
    comment = github_fake.add_comment(REPO, issue.number, "/aios plan", user="alice")
    token = github_fake.issue_token()
    url = f"{github_fake.url}/repos/octo-org/hello/issues/comments/{comment.id}/reactions"
    headers = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
    first = await http.post(url, json={"content": "eyes"}, headers=headers)
    again = await http.post(url, json={"content": "eyes"}, headers=headers)
    other = await http.post(url, json={"content": "rocket"}, headers=headers)
    assert [first.status_code, again.status_code, other.status_code] == [201, 200, 201]
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert first.json()["user"]["login"] == "aios[bot]"
    assert [r.content for r in github_fake.comments(REPO, issue.number)[0].reactions] == [
        "eyes",
        "rocket",
    ]


async def test_comment_pagination_uses_link_headers(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    issue = github_fake.add_issue(REPO, "Chatty")
    for n in range(5):
        github_fake.add_comment(REPO, issue.number, f"comment {n}")
    token = github_fake.issue_token()
    base = f"{github_fake.url}/repos/octo-org/hello/issues/{issue.number}/comments"
    page2 = await http.get(
        base, params={"per_page": 2, "page": 2}, headers={"Authorization": f"token {token}"}
    )
    assert [c["body"] for c in page2.json()] == ["comment 2", "comment 3"]
    assert page2.headers["link"] == (
        f'<{base}?per_page=2&page=1>; rel="first", <{base}?per_page=2&page=1>; rel="prev", '
        f'<{base}?per_page=2&page=3>; rel="next", <{base}?per_page=2&page=3>; rel="last"'
    )
    gh = GitHubAPI(http, "aios-test", base_url=github_fake.url, oauth_token=token)
    bodies = [c["body"] async for c in gh.getiter(f"{base}?per_page=2")]
    assert bodies == [f"comment {n}" for n in range(5)]
    assert [r.query.get("page") for r in github_fake.calls("GET", r".*/comments")][-3:] == [
        None,
        "2",
        "3",
    ]


async def test_permission_levels_follow_the_documented_mapping(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    github_fake.set_permission(REPO, "carol", "maintain")
    gh = await installation_api(github_fake, http)

    async def level(user: str) -> tuple[str, str]:
        body = await gh.getitem(f"/repos/octo-org/hello/collaborators/{user}/permission")
        return body["permission"], body["role_name"]

    assert await level("alice") == ("write", "write")
    assert await level("bob") == ("read", "read")
    assert await level("carol") == ("write", "maintain")
    assert await level("mallory") == ("read", "read")  # public repo, not a collaborator
    github_fake.non_collaborator_permission = None
    with pytest.raises(gidgethub.BadRequest) as raised:
        await level("mallory")
    assert raised.value.status_code == 404


# -- authentication ------------------------------------------------------------------------------


async def test_app_jwt_is_verified(github_fake: FakeGitHub, http: httpx2.AsyncClient) -> None:
    assert (await app_api(github_fake, http).getitem("/app"))["slug"] == "aios"
    stranger = generate_app(app_id=github_fake.app_id)
    forged = GitHubAPI(
        http,
        "x",
        base_url=github_fake.url,
        app_id=str(stranger.app_id),
        private_key=stranger.private_key_pem,
    )
    with pytest.raises(gidgethub.BadRequest) as raised:
        await forged.getitem("/app")
    assert (raised.value.status_code, str(raised.value)) == (
        401,
        "A JSON web token could not be decoded",
    )
    now = int(time.time())
    too_long = jwt.encode(
        {"iat": now, "exp": now + 3600, "iss": str(github_fake.app_id)},
        github_fake.private_key_pem,
        algorithm="RS256",
    )
    with pytest.raises(gidgethub.BadRequest, match="too far in the future"):
        await GitHubAPI(http, "x", base_url=github_fake.url).getitem("/app", jwt=too_long)
    expired = jwt.encode(
        {"iat": now - 900, "exp": now - 300, "iss": str(github_fake.app_id)},
        github_fake.private_key_pem,
        algorithm="RS256",
    )
    with pytest.raises(gidgethub.BadRequest, match="Expiration time"):
        await GitHubAPI(http, "x", base_url=github_fake.url).getitem("/app", jwt=expired)


async def test_installation_token_works_until_revoked(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    github_fake.token_ttl = 120
    before = time.time()
    token = await apps.get_installation_access_token(
        GitHubAPI(http, "aios-test", base_url=github_fake.url),
        installation_id="1",
        app_id=str(github_fake.app_id),
        private_key=github_fake.private_key_pem,
    )
    assert token["token"].startswith("ghs_") and len(token["token"]) == 40
    expires = datetime.strptime(token["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before + 118 <= expires.timestamp() <= time.time() + 121
    assert github_fake.tokens_issued == 1
    gh = GitHubAPI(http, "aios-test", base_url=github_fake.url, oauth_token=token["token"])
    assert (await gh.getitem("/repos/octo-org/hello"))["default_branch"] == "main"
    listed = await gh.getitem("/installation/repositories")
    assert [r["full_name"] for r in listed["repositories"]] == [REPO]
    github_fake.revoke_tokens()
    with pytest.raises(gidgethub.BadRequest) as raised:
        await gh.getitem("/repos/octo-org/hello")
    assert (raised.value.status_code, str(raised.value)) == (401, "Bad credentials")
    assert token["token"] not in repr(github_fake.requests)
    assert github_fake.requests[-1].headers["authorization"] == "token <redacted>"

    github_fake.token_ttl = 0  # every new token is born expired
    expired = await installation_api(github_fake, http)
    with pytest.raises(gidgethub.BadRequest) as raised:
        await expired.getitem("/repos/octo-org/hello")
    assert (raised.value.status_code, github_fake.tokens_issued) == (401, 2)


async def test_token_does_not_reach_other_repos(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    github_fake.add_installation(2, "someone-else", ["someone-else/private"])
    gh = await installation_api(github_fake, http)
    with pytest.raises(gidgethub.BadRequest) as raised:
        await gh.getitem("/repos/someone-else/private")
    assert raised.value.status_code == 404
    with pytest.raises(gidgethub.BadRequest) as raised:
        await GitHubAPI(http, "anonymous", base_url=github_fake.url).getitem(
            "/repos/octo-org/hello"
        )
    assert (raised.value.status_code, str(raised.value)) == (401, "Requires authentication")


# -- fault injection, GHES, manifest, deliveries --------------------------------------------------


async def test_fail_next_injects_errors_then_recovers(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    gh = await installation_api(github_fake, http)
    github_fake.fail_next("GET", r"/repos/octo-org/hello", 502, times=2)
    reset = str(int(time.time()) + 30)
    github_fake.fail_next(
        "GET", r"/repos/.*", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    )
    for _ in range(2):
        with pytest.raises(gidgethub.GitHubBroken):
            await gh.getitem("/repos/octo-org/hello")
    with pytest.raises(gidgethub.RateLimitExceeded) as limited:
        await gh.getitem("/repos/octo-org/hello")
    assert limited.value.rate_limit.remaining == 0
    assert (await gh.getitem("/repos/octo-org/hello"))["full_name"] == REPO
    statuses = [r.status for r in github_fake.calls("GET", r"/repos/octo-org/hello")]
    assert statuses == [502, 502, 403, 200]


async def test_ghes_prefix_mode(
    openapi_checker: OpenAPIChecker, github_app_identity: AppIdentity, http: httpx2.AsyncClient
) -> None:
    with FakeGitHub(openapi_checker, app=github_app_identity, prefix="/api/v3") as fake:
        fake.add_installation(1, "octo-org", [REPO])
        assert fake.url.endswith("/api/v3")
        gh = await installation_api(fake, http)
        repo = await gh.getitem("/repos/octo-org/hello")
        assert repo["url"] == f"{fake.url}/repos/octo-org/hello"
        assert [r.path for r in fake.requests] == [
            "/app/installations/1/access_tokens",
            "/repos/octo-org/hello",
        ]
        outside = await http.get(fake.url.removesuffix("/api/v3") + "/repos/octo-org/hello")
        assert outside.status_code == 404
        assert fake.violations == ["GET /repos/octo-org/hello: outside the API prefix /api/v3"]


async def test_manifest_codes_convert_once(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    github_fake.add_manifest_code("abc123", {"name": "AIOS for octo-org"})
    gh = GitHubAPI(http, "aios-setup", base_url=github_fake.url)
    app = await gh.post("/app-manifests/{code}/conversions", url_vars={"code": "abc123"}, data=b"")
    assert (app["id"], app["slug"], app["name"]) == (
        github_fake.app_id,
        "aios",
        "AIOS for octo-org",
    )
    assert (app["pem"], app["webhook_secret"]) == (
        github_fake.private_key_pem,
        github_fake.webhook_secret,
    )
    assert app["client_id"] and app["client_secret"]
    for code in ("abc123", "unknown"):
        with pytest.raises(gidgethub.BadRequest) as raised:
            await gh.post("/app-manifests/{code}/conversions", url_vars={"code": code}, data=b"")
        assert raised.value.status_code == 404


async def test_hook_deliveries_cursor_pages_and_redelivery(
    github_fake: FakeGitHub, http: httpx2.AsyncClient
) -> None:
    received: list[tuple[str, bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((request.headers["X-GitHub-Delivery"], await request.read()))
        return web.Response(status=202)

    receiver = web.Application()
    receiver.router.add_post("/webhook", receive)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        ids = [github_fake.add_hook_delivery(status_code=code).id for code in (200, 503, 200)]
        github_fake.webhook_url = f"http://{host}:{port}/webhook"
        failed = github_fake.add_hook_delivery(
            status_code=0, payload={"action": "opened", "zen": "hi"}
        )
        gh = app_api(github_fake, http)
        listed = [d async for d in gh.getiter("/app/hook/deliveries?per_page=2")]
        assert [d["id"] for d in listed] == [failed.id, *reversed(ids)]
        assert len(github_fake.calls("GET", r"/app/hook/deliveries")) == 2
        await gh.post(f"/app/hook/deliveries/{failed.id}/attempts", data=b"")
        assert github_fake.redelivery_requests == [failed.id]
        await github_fake.await_until(lambda: len(github_fake.state.deliveries) == 5)
        assert received[0][0] == failed.guid and json.loads(received[0][1])["zen"] == "hi"
        redelivered = github_fake.state.deliveries[-1]
        assert (redelivered.redelivery, redelivered.status_code, redelivered.guid) == (
            True,
            202,
            failed.guid,
        )
    finally:
        await runner.cleanup()


def test_deliver_posts_signed_official_examples(github_fake: FakeGitHub) -> None:
    received: list[sansio.Event] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        received.append(sansio.Event.from_http(headers, body, secret=github_fake.webhook_secret))
        return web.Response(status=200)

    receiver = web.Application()
    receiver.router.add_post("/webhook", receive)
    server = LoopbackServer(receiver)
    server.start()
    try:
        github_fake.webhook_url = f"{server.origin}/webhook"
        payload = webhooks.example("issues", "labeled")
        delivery = github_fake.deliver("issues", payload)
    finally:
        server.stop()
    assert [(e.event, e.delivery_id, e.data) for e in received] == [
        ("issues", delivery.guid, payload)
    ]
    assert (delivery.status_code, delivery.status, delivery.action) == (200, "OK", "labeled")
    assert delivery.repository_id == payload["repository"]["id"]


async def test_responses_match_the_documented_schemas(
    github_fake: FakeGitHub, http: httpx2.AsyncClient, openapi_checker: OpenAPIChecker
) -> None:
    """Exercise every implemented operation and validate what the fake answered."""
    github_fake.add_hook_delivery()
    github_fake.add_manifest_code("code")
    app = app_api(github_fake, http)
    await app.getitem("/app")
    await app.getitem("/app/installations")
    await app.getitem("/app/installations/1")
    await app.getitem("/repos/octo-org/hello/installation")
    delivery = (await app.getitem("/app/hook/deliveries"))[0]
    await app.getitem(f"/app/hook/deliveries/{delivery['id']}")
    await app.post(f"/app/hook/deliveries/{delivery['id']}/attempts", data=b"")
    await app.getitem("/app/hook/config")
    await app.patch("/app/hook/config", data={"url": "https://aios.example.com/webhook"})
    await GitHubAPI(http, "x", base_url=github_fake.url).post(
        "/app-manifests/code/conversions", data=b""
    )
    gh = await installation_api(github_fake, http)
    await gh.getitem("/installation/repositories")
    await gh.getitem("/repos/octo-org/hello")
    await gh.getitem("/repos/octo-org/hello/collaborators/alice/permission")
    await gh.post("/repos/octo-org/hello/labels", data={"name": "aios", "color": "000000"})
    await gh.getitem("/repos/octo-org/hello/labels")
    await gh.patch(
        "/repos/octo-org/hello/labels/aios", data={"new_name": "aios:qa", "description": "QA"}
    )
    await gh.getitem("/repos/octo-org/hello/labels/aios:qa")
    issue = await gh.post(
        "/repos/octo-org/hello/issues", data={"title": "t", "labels": ["aios:qa"]}
    )
    number = issue["number"]
    await gh.getitem("/repos/octo-org/hello/issues")
    await gh.getitem(f"/repos/octo-org/hello/issues/{number}")
    await gh.patch(
        f"/repos/octo-org/hello/issues/{number}", data={"body": "b", "assignees": ["alice"]}
    )
    await gh.post(f"/repos/octo-org/hello/issues/{number}/labels", data={"labels": ["x"]})
    await gh.put(f"/repos/octo-org/hello/issues/{number}/labels", data={"labels": ["x", "y"]})
    await gh.getitem(f"/repos/octo-org/hello/issues/{number}/labels")
    await gh.delete(f"/repos/octo-org/hello/issues/{number}/labels/y")
    comment = await gh.post(f"/repos/octo-org/hello/issues/{number}/comments", data={"body": "c"})
    await gh.getitem(f"/repos/octo-org/hello/issues/{number}/comments")
    await gh.getitem(f"/repos/octo-org/hello/issues/comments/{comment['id']}")
    await gh.patch(f"/repos/octo-org/hello/issues/comments/{comment['id']}", data={"body": "d"})
    await gh.post(f"/repos/octo-org/hello/issues/{number}/reactions", data={"content": "+1"})
    await gh.getitem(f"/repos/octo-org/hello/issues/{number}/reactions")
    await gh.post(
        f"/repos/octo-org/hello/issues/comments/{comment['id']}/reactions", data={"content": "eyes"}
    )
    await gh.getitem(f"/repos/octo-org/hello/issues/comments/{comment['id']}/reactions")
    await gh.delete(f"/repos/octo-org/hello/issues/comments/{comment['id']}")
    await gh.delete("/repos/octo-org/hello/labels/x")

    exercised = {r.operation_id for r in github_fake.requests}
    mine = {*app_routes.routes, *hook_config_routes.routes, *issue_routes.routes}
    assert exercised == mine, "every route of routes/app, hook_config and issues is exercised"
    assert github_fake.response_mismatches() == []


def test_sync_clients_can_use_the_fake(github_fake: FakeGitHub) -> None:
    token = github_fake.issue_token()
    with httpx2.Client(
        base_url=github_fake.url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        created = client.post("/repos/octo-org/hello/issues", json={"title": "From a thread"})
    assert created.status_code == 201
    assert github_fake.repo(REPO).issues[created.json()["number"]].title == "From a thread"


# -- webhook examples and the npm cache -----------------------------------------------------------


def test_webhook_examples_and_signatures(
    webhook_examples: dict[str, list[dict[str, object]]],
) -> None:
    assert {"issues", "issue_comment", "pull_request", "installation", "check_run"} <= set(
        webhook_examples
    )
    payload = webhooks.example("issue_comment", "created")
    assert payload["action"] == "created" and "comment" in payload
    payload["comment"]["body"] = "/aios help"
    assert webhooks.example("issue_comment", "created")["comment"]["body"] != "/aios help"
    with pytest.raises(KeyError, match="no 'issues' example with action 'nope'"):
        webhooks.example("issues", "nope")

    body = webhooks.encode(payload)
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert webhooks.sign(body, "s3cret") == expected
    headers = webhooks.delivery_headers("issue_comment", body, "s3cret", delivery_id="d-1")
    lowered = {name.lower(): value for name, value in headers.items()}
    event = sansio.Event.from_http(lowered, body, secret="s3cret")  # gidgethub verifies it
    assert (event.event, event.delivery_id, event.data["comment"]["body"]) == (
        "issue_comment",
        "d-1",
        "/aios help",
    )
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")


def test_octokit_cache_is_reused_without_npm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert octokit.openapi_json().is_file()  # present since the session loaded it
    monkeypatch.setattr(octokit.shutil, "which", lambda _name: None)
    assert octokit.fetch(octokit.OPENAPI) == octokit.cache_dir() / "octokit-openapi-23.0.2"
    monkeypatch.setenv(octokit.CACHE_ENV, str(tmp_path))
    with pytest.raises(octokit.OctokitFetchError, match="apt-get install -y npm"):
        octokit.fetch(octokit.OPENAPI)
    assert list(tmp_path.iterdir()) == []


def test_octokit_cache_is_the_checkouts_else_the_users_once_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(octokit.CACHE_ENV, raising=False)
    assert octokit.cache_dir() == Path(__file__).resolve().parents[1] / ".cache" / "octokit"
    # Installed from a wheel, the package sits in site-packages: no pyproject.toml above it.
    monkeypatch.setattr(octokit, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert octokit.cache_dir() == tmp_path / "home" / ".cache" / "aios" / "octokit"
    monkeypatch.setenv(octokit.CACHE_ENV, str(tmp_path / "chosen"))
    assert octokit.cache_dir() == tmp_path / "chosen"
