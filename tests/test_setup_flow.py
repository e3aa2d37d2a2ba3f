"""The /setup flow: manifest form, CSRF state, code exchange against the fake GitHub, .env."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from aiohttp import CookieJar, web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from structlog.testing import capture_logs

from bot.app import setup as setup_flow
from bot.app.setup import load_manifest, setup_routes, write_env
from bot.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.fakes.github.openapi import OpenAPIChecker
from tests.fakes.github.state import AppIdentity

REPO_ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://aios.example.com"

EXPECTED_PERMISSIONS = {
    "actions": "read",
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "read",
}
EXPECTED_EVENTS = {
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "check_run",
    "check_suite",
    "workflow_run",
    "status",
}

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


class _Forms(HTMLParser):
    """Every <form> on a page: its action, method and named inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append({"action": values.get("action"), "method": values.get("method")})
            self.forms[-1]["inputs"] = {}
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1]["inputs"][values["name"]] = values.get("value")


def registration_form(page: str) -> dict[str, Any]:
    parser = _Forms()
    parser.feed(page)
    [form] = [f for f in parser.forms if "manifest" in f["inputs"]]
    return form


def settings_for(**environ: str) -> Settings:
    return Settings.from_env(environ=environ, dotenv_path=None)


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[MakeClient]:
    clients: list[Client] = []

    async def make(
        settings: Settings | None = None,
        *,
        public_url: str | None = PUBLIC_URL,
        env_path: Path | None = None,
        unlock: bool = True,
    ) -> Client:
        """A client of the setup pages; `unlock` enters the setup code the routes logged."""
        app = web.Application()
        with capture_logs() as logged:
            routes = setup_routes(
                settings or settings_for(),
                env_path=env_path or tmp_path / ".env",
                public_url=public_url,
            )
        app.add_routes(routes)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        # The session cookie is Secure for an https public URL; the test talks plain http.
        origin = str(server.make_url("/").origin())
        jar = CookieJar(unsafe=True, treat_as_secure_origin=[origin])
        client = TestClient(server, cookie_jar=jar)
        await client.start_server()
        clients.append(client)
        codes = [m["event"].rsplit(" ", 1)[1] for m in logged if "enter code" in m["event"]]
        if unlock and codes:
            entered = await client.post(
                "/setup/code", data={"code": codes[0]}, allow_redirects=False
            )
            assert entered.status == 303, await entered.text()
        client.setup_code = codes[0] if codes else None  # type: ignore[attr-defined]
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture(scope="module")
def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def conversion(pem: str, **overrides: Any) -> dict[str, Any]:
    result = {
        "id": 4242,
        "slug": "aios-test",
        "name": "AIOS test",
        "html_url": "https://github.com/apps/aios-test",
        "client_id": "Iv1.0123456789abcdef",
        "client_secret": "c" * 40,
        "webhook_secret": "w" * 40,
        "pem": pem,
    }
    return {**result, **overrides}


async def start_registration(client: Client, query: str = "") -> tuple[str, dict[str, Any]]:
    """Open /setup; return the state GitHub would echo back and the posted manifest."""
    response = await client.get(f"/setup{query}")
    assert response.status == 200, await response.text()
    form = registration_form(await response.text())
    [state] = parse_qs(urlsplit(form["action"]).query)["state"]
    return state, json.loads(form["inputs"]["manifest"])


def test_manifest_file_asks_for_exactly_what_the_product_needs() -> None:
    manifest = yaml.safe_load((REPO_ROOT / "github-app-manifest.yml").read_text())

    assert manifest["default_permissions"] == EXPECTED_PERMISSIONS
    assert set(manifest["default_events"]) == EXPECTED_EVENTS
    assert len(manifest["default_events"]) == len(EXPECTED_EVENTS)
    assert manifest["public"] is False


def test_the_app_subscribes_to_every_event_a_handler_waits_for() -> None:
    from bot.handlers import build_router

    router = build_router()
    routed = set(router._shallow_routes) | set(router._deep_routes)
    delivered_to_every_app = {"installation", "installation_repositories"}
    manifest = yaml.safe_load((REPO_ROOT / "github-app-manifest.yml").read_text())
    assert routed - delivered_to_every_app <= set(manifest["default_events"])


def test_the_package_reads_the_repo_root_manifest() -> None:
    packaged = (REPO_ROOT / "bot" / "github-app-manifest.yml").resolve()

    assert packaged == (REPO_ROOT / "github-app-manifest.yml").resolve()


def test_load_manifest_fills_in_the_public_url() -> None:
    manifest = load_manifest(PUBLIC_URL + "/")

    assert manifest["url"] == PUBLIC_URL
    assert manifest["hook_attributes"] == {"url": f"{PUBLIC_URL}/webhook", "active": True}
    assert manifest["redirect_url"] == f"{PUBLIC_URL}/setup/callback"
    assert manifest["callback_urls"] == [f"{PUBLIC_URL}/setup/callback"]
    assert manifest["default_permissions"] == EXPECTED_PERMISSIONS


def test_load_manifest_without_public_url_registers_the_webhook_switched_off() -> None:
    manifest = load_manifest(None, browser_url="http://127.0.0.1:8080")

    assert manifest["hook_attributes"] == {
        "url": setup_flow.PLACEHOLDER_WEBHOOK_URL,
        "active": False,
    }
    assert manifest["redirect_url"] == "http://127.0.0.1:8080/setup/callback"
    with pytest.raises(ValueError, match="public_url or browser_url"):
        load_manifest(None)


async def test_setup_page_posts_the_manifest_to_github_for_the_user(
    make_client: MakeClient,
) -> None:
    client = await make_client()

    response = await client.get("/setup")
    page = await response.text()
    form = registration_form(page)
    manifest = json.loads(form["inputs"]["manifest"])
    action = urlsplit(form["action"])

    assert response.status == 200
    assert form["method"] == "post"
    assert (
        f"{action.scheme}://{action.netloc}{action.path}" == "https://github.com/settings/apps/new"
    )
    assert len(parse_qs(action.query)["state"][0]) >= 20
    assert manifest["hook_attributes"]["url"] == f"{PUBLIC_URL}/webhook"
    assert manifest["redirect_url"] == f"{PUBLIC_URL}/setup/callback"
    assert manifest["default_permissions"] == EXPECTED_PERMISSIONS
    assert set(manifest["default_events"]) == EXPECTED_EVENTS
    assert "Register GitHub App" in page
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_each_view_gets_its_own_state(make_client: MakeClient) -> None:
    client = await make_client()

    first, _ = await start_registration(client)
    second, _ = await start_registration(client)

    assert first != second


async def test_setup_page_targets_an_organisation(make_client: MakeClient) -> None:
    client = await make_client()

    response = await client.get("/setup", params={"org": "acme-corp"})
    form = registration_form(await response.text())

    assert form["action"].startswith(
        "https://github.com/organizations/acme-corp/settings/apps/new?state="
    )


async def test_setup_page_refuses_a_malformed_organisation(make_client: MakeClient) -> None:
    client = await make_client()

    response = await client.get("/setup", params={"org": "../evil<script>"})
    page = await response.text()

    assert response.status == 400
    assert "not a GitHub organisation login" in page
    assert "<script>" not in page


async def test_setup_page_targets_github_enterprise_server(make_client: MakeClient) -> None:
    settings = settings_for(GITHUB_API_URL="https://ghe.example.com/api/v3")
    client = await make_client(settings)

    user_form = registration_form(await (await client.get("/setup")).text())
    org_page = await (await client.get("/setup", params={"org": "platform"})).text()

    assert user_form["action"].startswith("https://ghe.example.com/settings/apps/new?state=")
    assert registration_form(org_page)["action"].startswith(
        "https://ghe.example.com/organizations/platform/settings/apps/new?state="
    )


async def test_setup_page_without_public_url_explains_and_redirects_here(
    make_client: MakeClient,
) -> None:
    client = await make_client(public_url=None)

    response = await client.get("/setup")
    page = await response.text()
    manifest = json.loads(registration_form(page)["inputs"]["manifest"])

    assert "No public URL is set" in page
    assert "--public-url" in page
    assert manifest["hook_attributes"]["active"] is False
    assert manifest["redirect_url"] == f"http://127.0.0.1:{client.port}/setup/callback"


@pytest.mark.parametrize("query", ["?code=abc123", "?code=abc123&state=forged-state"])
async def test_callback_with_a_missing_or_wrong_state_is_refused(
    make_client: MakeClient, tmp_path: Path, query: str
) -> None:
    client = await make_client()
    await start_registration(client)

    response = await client.get(f"/setup/callback{query}")

    assert response.status == 400
    assert "does not match a registration started here" in await response.text()
    assert not (tmp_path / ".env").exists()


async def test_github_unreachable_is_a_clear_502(make_client: MakeClient, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = await make_client(settings_for(GITHUB_API_URL=f"http://127.0.0.1:{closed_port}"))
    state, _ = await start_registration(client)

    response = await client.get("/setup/callback", params={"code": "abc", "state": state})

    assert response.status == 502
    assert "Could not reach GitHub" in await response.text()
    assert not (tmp_path / ".env").exists()


def test_write_env_replaces_keys_keeps_other_lines_and_is_private(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# my settings\n"
        "export REDIS_URL=redis://localhost:6380/0\n"
        'PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\nold\n-----END RSA PRIVATE KEY-----"\n'
        "APP_ID=1\n"
        "LOG_LEVEL=DEBUG"
    )
    env.chmod(0o644)

    write_env(env, {"APP_ID": "7", "PRIVATE_KEY": "new\\nkey"})

    assert env.read_text() == (
        "# my settings\n"
        "export REDIS_URL=redis://localhost:6380/0\n"
        "LOG_LEVEL=DEBUG\n"
        "APP_ID='7'\n"
        "PRIVATE_KEY='new\\nkey'\n"
    )
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".env"]


def test_write_env_refuses_a_value_it_cannot_quote(tmp_path: Path) -> None:
    env = tmp_path / ".env"

    with pytest.raises(ValueError, match="WEBHOOK_SECRET") as raised:
        write_env(env, {"WEBHOOK_SECRET": "it's-secret"})

    assert "it's-secret" not in str(raised.value)
    assert not env.exists()


async def test_callback_saves_credentials_to_a_private_env_settings_can_read(
    make_client: MakeClient, github_fake: FakeGitHub, tmp_path: Path, pem: str
) -> None:
    env = tmp_path / ".env"
    env.write_text("REDIS_URL=redis://127.0.0.1:6390/0\nAPP_ID=1\n")
    result = conversion(pem)
    github_fake.add_manifest_code("a180b1a3d263c81bc6441d7b990bae27d4c10679", result)
    client = await make_client(settings_for(GITHUB_API_URL=github_fake.url), env_path=env)
    state, _ = await start_registration(client)

    response = await client.get(
        "/setup/callback",
        params={"code": "a180b1a3d263c81bc6441d7b990bae27d4c10679", "state": state},
    )
    page = await response.text()
    settings = Settings.from_env(environ={}, dotenv_path=env)

    done = await (await client.get("/setup/done")).text()

    assert response.status == 200, page
    assert response.url.path == "/setup/model"  # the callback URL, with its code, is left
    assert "App ID 4242" in page
    assert 'href="https://github.com/apps/aios-test/installations/new"' in done
    assert str(env.resolve()) in done
    assert "label <code>aios</code>" in done
    for secret in (result["client_secret"], result["webhook_secret"], "PRIVATE KEY"):
        assert secret not in page
        assert secret not in done
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert settings.app_id == 4242
    assert settings.private_key is not None
    assert settings.private_key.strip() == pem.strip()
    assert settings.webhook_secret == result["webhook_secret"]
    assert settings.github_client_id == result["client_id"]
    assert settings.github_client_secret == result["client_secret"]
    assert settings.redis_url == "redis://127.0.0.1:6390/0"
    keys = [line.split("=", 1)[0] for line in env.read_text().splitlines()]
    assert sorted(keys) == sorted(["REDIS_URL", *setup_flow.ENV_KEYS])
    [exchange] = github_fake.calls("POST", r"/app-manifests/[^/]+/conversions")
    assert exchange.auth == "none"


async def test_a_used_state_and_a_second_registration_are_refused(
    make_client: MakeClient, github_fake: FakeGitHub, tmp_path: Path, pem: str
) -> None:
    github_fake.add_manifest_code("first", conversion(pem))
    client = await make_client(settings_for(GITHUB_API_URL=github_fake.url))
    state, _ = await start_registration(client)
    done = await client.get("/setup/callback", params={"code": "first", "state": state})
    saved = (tmp_path / ".env").read_text()

    again = await client.get("/setup/callback", params={"code": "first", "state": state})
    setup_again = await client.get("/setup")

    assert done.status == 200
    assert again.status == 409
    assert setup_again.status == 200
    assert "Restart" in await setup_again.text()
    assert (tmp_path / ".env").read_text() == saved


async def test_callback_generates_a_webhook_secret_when_github_returns_none(
    make_client: MakeClient, github_fake: FakeGitHub, tmp_path: Path, pem: str
) -> None:
    github_fake.add_manifest_code("nohook", conversion(pem, webhook_secret=None))
    client = await make_client(settings_for(GITHUB_API_URL=github_fake.url), public_url=None)
    state, _ = await start_registration(client)

    response = await client.get("/setup/callback", params={"code": "nohook", "state": state})
    settings = Settings.from_env(environ={}, dotenv_path=tmp_path / ".env")

    done = await client.get("/setup/done")

    assert response.status == 200
    assert "GitHub returned no webhook secret" in await done.text()
    assert settings.webhook_secret is not None
    assert settings.webhook_secret not in await done.text()
    assert settings.webhook_secret is not None and len(settings.webhook_secret) == 64


async def test_unknown_code_shows_github_refusal_and_writes_nothing(
    make_client: MakeClient, github_fake: FakeGitHub, tmp_path: Path
) -> None:
    client = await make_client(settings_for(GITHUB_API_URL=github_fake.url))
    state, _ = await start_registration(client)

    response = await client.get("/setup/callback", params={"code": "expired0", "state": state})
    retry = await client.get("/setup/callback", params={"code": "expired0", "state": state})

    assert response.status == 400
    assert "GitHub answered 404" in await response.text()
    assert not (tmp_path / ".env").exists()
    assert retry.status == 400
    assert "does not match a registration started here" in await retry.text()


async def test_callback_exchanges_the_code_on_github_enterprise_server(
    make_client: MakeClient,
    openapi_checker: OpenAPIChecker,
    github_app_identity: AppIdentity,
    tmp_path: Path,
) -> None:
    ghes = FakeGitHub(openapi_checker, app=github_app_identity, prefix="/api/v3")
    ghes.add_manifest_code("ghes-code")
    ghes.start()
    try:
        assert ghes.url.endswith("/api/v3")
        client = await make_client(settings_for(GITHUB_API_URL=ghes.url))
        state, _ = await start_registration(client)
        response = await client.get("/setup/callback", params={"code": "ghes-code", "state": state})
    finally:
        ghes.stop()

    assert response.status == 200, await response.text()
    assert len(ghes.calls("POST", r"/app-manifests/ghes-code/conversions")) == 1
    assert ghes.violations == []
    settings = Settings.from_env(environ={}, dotenv_path=tmp_path / ".env")
    assert settings.app_id == github_app_identity.app_id
