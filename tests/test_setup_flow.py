"""The /setup flow: manifest form, CSRF state, code exchange against the fake GitHub, .env."""

from __future__ import annotations

import json
import re
import socket
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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
from dotenv import dotenv_values
from structlog.testing import capture_logs

from bot.agents.config import AgentConfig
from bot.app import setup as setup_flow
from bot.app.setup import load_manifest, setup_routes, write_env
from bot.app.setup import model as setup_model
from bot.app.setup.envfile import writable_env_path
from bot.app.setup.guard import MAX_CODE_ATTEMPTS, is_exposed
from bot.settings import Settings
from bot.testbed.github import FakeGitHub
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.state import AppIdentity
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM

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


# -- the setup code of an exposed server ----------------------------------------------------


@pytest.mark.parametrize(
    ("production", "public_url", "exposed"),
    [
        (False, None, False),
        (False, "http://127.0.0.1:8080", False),
        (False, "http://localhost:8080", False),
        (False, "http://[::1]:8080", False),
        (False, "https://tunnel.example.com", True),
        (False, "http://192.168.1.5:8080", True),
        (True, None, True),
        (True, "http://127.0.0.1:8080", True),
    ],
)
def test_a_server_is_exposed_in_production_or_at_a_public_url_elsewhere(
    production: bool, public_url: str | None, exposed: bool
) -> None:
    assert is_exposed(production=production, public_url=public_url) is exposed


async def test_an_exposed_server_refuses_every_setup_page_without_its_code(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client(settings_for(AIOS_ENV="production"), unlock=False)

    refused = [
        await client.get("/setup"),
        await client.get("/setup/callback", params={"code": "c", "state": "s"}),
        await client.get("/setup/model"),
        await client.post("/setup/model", data={"provider": "anthropic", "api_key": "k"}),
        await client.get("/setup/done"),
    ]
    wrong = await client.post("/setup/code", data={"code": "AAAA-AAAA"})
    page = await wrong.text()

    assert [r.status for r in refused] == [403] * 5
    assert "one-time setup code" in await refused[0].text()
    assert f"aios: open {PUBLIC_URL}/setup and enter code XXXX-XXXX" in await refused[0].text()
    assert wrong.status == 403
    assert "not this server's setup code" in page.replace("&#x27;", "'")
    assert client.setup_code not in page  # type: ignore[attr-defined]
    assert not (tmp_path / ".env").exists()


async def test_the_right_code_opens_setup_once_for_one_browser(make_client: MakeClient) -> None:
    client = await make_client(settings_for(AIOS_ENV="production"), unlock=False)
    code = client.setup_code  # type: ignore[attr-defined]
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", code)

    entered = await client.post("/setup/code", data={"code": code.lower()})
    form = registration_form(await entered.text())
    manifest = json.loads(form["inputs"]["manifest"])
    other = TestClient(client.server)
    await other.start_server()
    try:
        again = await other.post("/setup/code", data={"code": code})
        again_page = await again.text()
        other_setup = await other.get("/setup")
    finally:
        await other.close()

    assert entered.status == 200
    assert manifest["redirect_url"] == f"{PUBLIC_URL}/setup/callback"
    assert again.status == 403
    assert "used already" in again_page
    assert other_setup.status == 403


async def test_wrong_codes_lock_setup_until_a_restart(make_client: MakeClient) -> None:
    client = await make_client(settings_for(AIOS_ENV="production"), unlock=False)
    for _ in range(MAX_CODE_ATTEMPTS):
        await client.post("/setup/code", data={"code": "AAAA-AAAA"})

    right = await client.post("/setup/code", data={"code": client.setup_code})  # type: ignore[attr-defined]

    assert right.status == 403
    assert "setup is locked" in await right.text()


async def test_a_local_server_asks_for_no_code(make_client: MakeClient) -> None:
    client = await make_client(public_url=None, unlock=False)

    response = await client.get("/setup")

    assert client.setup_code is None  # type: ignore[attr-defined]
    assert response.status == 200
    registration_form(await response.text())


def test_a_read_only_working_directory_saves_to_the_data_dir(tmp_path: Path) -> None:
    missing = tmp_path / "read-only" / ".env"

    assert writable_env_path(tmp_path / ".env", tmp_path / "data") == tmp_path / ".env"
    assert writable_env_path(missing, tmp_path / "data") == tmp_path / "data" / ".env"


# -- the model step -------------------------------------------------------------------------

MODEL_KEY = "sk-setup-good-key-0123456789"
WRONG_KEY = "sk-setup-wrong-key-9876543210"


@pytest.fixture(scope="module")
def llm() -> Iterator[LoopbackLLM]:
    with LoopbackLLM(ScriptedModel(api_key=MODEL_KEY, models=["llama3.1", "qwen3"])) as server:
        yield server


async def model_form(client: Client) -> dict[str, Any]:
    response = await client.get("/setup/model")
    assert response.status == 200, await response.text()
    parser = _Forms()
    parser.feed(await response.text())
    [form] = [f for f in parser.forms if f["action"] == "/setup/model"]
    return form


async def send_model(client: Client, **fields: str) -> Any:
    token = (await model_form(client))["inputs"]["token"]
    return await client.post("/setup/model", data={"token": token, **fields}, allow_redirects=False)


async def test_a_refused_key_keeps_the_form_and_writes_nothing(
    make_client: MakeClient, llm: LoopbackLLM, tmp_path: Path
) -> None:
    env = tmp_path / ".env"
    env.write_text("LOG_LEVEL=DEBUG\n")
    client = await make_client(env_path=env)

    response = await send_model(
        client,
        provider="openai",
        api_key=WRONG_KEY,
        base_url=f"{llm.url}/v1",
        model="llama3.1",
    )
    page = await response.text()
    parser = _Forms()
    parser.feed(page)
    [form] = [f for f in parser.forms if f["action"] == "/setup/model"]

    assert response.status == 422
    assert "Not saved: the key was refused." in page
    assert WRONG_KEY not in page
    assert form["inputs"]["base_url"] == f"{llm.url}/v1"
    assert form["inputs"]["model"] == "llama3.1"
    assert env.read_text() == "LOG_LEVEL=DEBUG\n"


async def test_an_unreachable_server_is_named_and_nothing_is_written(
    make_client: MakeClient, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    client = await make_client()

    response = await send_model(
        client, provider="openai", api_key=MODEL_KEY, base_url=base, model="m"
    )

    assert response.status == 422
    assert f"Not saved: cannot reach {base}." in await response.text()
    assert not (tmp_path / ".env").exists()


async def test_a_working_openai_compatible_server_is_saved_for_the_workers(
    make_client: MakeClient,
    llm: LoopbackLLM,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = tmp_path / ".env"
    env.write_text("APP_ID_NOTE=kept\nAIOS_MODEL=old-pinned-model\n")
    client = await make_client(env_path=env)

    response = await send_model(
        client,
        provider="openai",
        api_key=MODEL_KEY,
        base_url=f"{llm.url}/v1/",
        model="qwen3",
        small_model="llama3.1",
    )
    status = await client.get("/")
    for name in ("AIOS_LLM_PROVIDER", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AIOS_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    config = AgentConfig.from_env()

    assert response.status == 303
    assert response.headers["Location"] == "/setup/done"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "APP_ID_NOTE=kept" in env.read_text()
    assert "AIOS_MODEL=" not in env.read_text()
    assert config.provider == "openai"
    assert config.openai_base_url == f"{llm.url}/v1"
    assert config.openai_api_key == MODEL_KEY
    assert [m.model for m in config.routing.default] == ["qwen3"]
    assert [m.model for m in config.routing.routes["triage"]] == ["llama3.1"]
    assert config.routing.fallbacks == ()
    page = await status.text()
    assert f"openai at {llm.url}/v1 (models seen: llama3.1, qwen3)" in page
    assert MODEL_KEY not in page


async def test_anthropic_needs_only_a_key_and_drops_other_routes(
    make_client: MakeClient, llm: LoopbackLLM, tmp_path: Path
) -> None:
    env = tmp_path / ".env"
    env.write_text('AIOS_MODELS={"default": "gpt-4.1"}\n')
    client = await make_client(env_path=env)

    response = await send_model(client, provider="anthropic", api_key=MODEL_KEY, base_url=llm.url)
    values = dotenv_values(env)

    assert response.status == 303
    assert values == {
        "AIOS_LLM_PROVIDER": "anthropic",
        "ANTHROPIC_API_KEY": MODEL_KEY,
        "ANTHROPIC_BASE_URL": llm.url,
    }


async def test_a_model_form_is_good_for_one_send(
    make_client: MakeClient, llm: LoopbackLLM, tmp_path: Path
) -> None:
    client = await make_client()
    token = (await model_form(client))["inputs"]["token"]
    fields = {"token": token, "provider": "anthropic", "api_key": MODEL_KEY, "base_url": llm.url}

    first = await client.post("/setup/model", data=fields, allow_redirects=False)
    (tmp_path / ".env").unlink()
    replay = await client.post("/setup/model", data=fields, allow_redirects=False)
    forged = await client.post(
        "/setup/model", data={**fields, "token": "forged"}, allow_redirects=False
    )

    assert first.status == 303
    assert replay.status == 400
    assert forged.status == 400
    assert "sent already" in await replay.text()
    assert not (tmp_path / ".env").exists()


# -- after registration, and the status page ------------------------------------------------


async def test_setup_after_registration_names_the_app_and_links_on(
    make_client: MakeClient, tmp_path: Path, pem: str
) -> None:
    env = tmp_path / ".env"
    env.write_text("GITHUB_APP_SLUG='aios-test'\n")
    settings = settings_for(APP_ID="4242", PRIVATE_KEY=pem, WEBHOOK_SECRET="w" * 40)
    client = await make_client(settings, env_path=env, public_url=None)

    setup = await client.get("/setup")
    page = await setup.text()
    status = await (await client.get("/")).text()

    assert setup.status == 200
    assert "Registered as <strong>aios-test</strong>" in page
    assert 'href="/setup/model"' in page
    assert 'href="/"' in page
    assert 'href="https://github.com/apps/aios-test/installations/new"' in page
    assert ">aios-test</a> (App ID 4242)" in status
    assert "none: no public URL is set" in status


async def test_the_status_page_before_registration_points_to_setup(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AIOS_LLM_PROVIDER", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(setup_model, "held_secrets", dict)
    client = await make_client(unlock=False)

    response = await client.get("/")
    page = await response.text()

    assert response.status == 200
    assert "not registered: <a href='/setup'>" in page
    assert f"<code>{PUBLIC_URL}/webhook</code>" in page
    assert "none: ANTHROPIC_API_KEY is not set" in page
    assert "unknown (no Redis in this process)" in page


async def test_without_a_public_url_the_page_offers_a_webhook_proxy(
    make_client: MakeClient,
) -> None:
    client = await make_client(public_url=None)
    page = await (await client.get("/setup")).text()
    assert "WEBHOOK_PROXY_URL=" in page and "https://smee.io/new" in page

    channel = "https://smee.io/aios-test-channel"
    proxied = await make_client(settings_for(WEBHOOK_PROXY_URL=channel), public_url=None)
    page = await (await proxied.get("/setup")).text()
    manifest = json.loads(registration_form(page)["inputs"]["manifest"])
    assert manifest["hook_attributes"] == {"url": channel, "active": True}
    assert "proxy channel" in page and "No public URL is set" not in page
