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
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot import setup_flow
from bot.settings import Settings
from bot.setup_flow import load_manifest, setup_routes, write_env

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
    ) -> Client:
        app = web.Application()
        app.add_routes(
            setup_routes(
                settings or settings_for(),
                env_path=env_path or tmp_path / ".env",
                public_url=public_url,
            )
        )
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
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


def test_production_never_serves_setup(tmp_path: Path) -> None:
    settings = Settings(environment="production")

    with pytest.raises(ValueError, match="not served in production"):
        setup_routes(settings, env_path=tmp_path / ".env", public_url=PUBLIC_URL)


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
