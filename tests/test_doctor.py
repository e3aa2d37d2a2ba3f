"""`aios doctor` against the GitHub fake and real Redis: all ✓ when healthy, each fault its ✗."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.agents.bwrap import INSTALL_HINT
from bot.app import embedded_redis
from bot.app.doctor import run_doctor
from bot.app.doctor.findings import Probe
from bot.app.doctor.host import check_sandbox
from bot.settings import Settings
from bot.testbed.github import FakeGitHub
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.state import AppIdentity, iso
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from tests.serve_harness import AIOS
from tests.test_operations import app_settings

PUBLIC_URL = "https://aios.example.com"
HOOK_URL = f"{PUBLIC_URL}/webhook"
REPO = "octo-org/hello"
SETTINGS_PAGE = "https://github.com/organizations/octo-org/settings/apps/aios"
MODEL_KEY = "sk-ant-doctor-test-key"
MODEL_VARIABLES = (
    "AIOS_LLM_PROVIDER",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)


@pytest.fixture(scope="module")
def fake(openapi_checker: OpenAPIChecker, github_app_identity: AppIdentity) -> Iterator[FakeGitHub]:
    """One fake for the module: App `aios` installed on octo-org/hello, webhook at HOOK_URL."""
    github = FakeGitHub(openapi_checker, app=dataclasses.replace(github_app_identity))
    github.add_installation(1, "octo-org", [REPO])
    github.start()
    yield github
    github.stop()


@pytest.fixture(autouse=True)
def healthy_github(fake: FakeGitHub) -> Iterator[None]:
    """Each test starts from a healthy App and must send only requests GitHub accepts."""
    with fake.lock:
        installation = fake.state.installations[1]
        fake.state.deliveries.clear()
    fake.set_hook_config(url=HOOK_URL, content_type="json", secret_set=True, insecure_ssl="0")
    yield
    with fake.lock:
        fake.state.installations = {1: installation}
    assert fake.violations == []
    assert fake.response_mismatches() == []


@pytest.fixture(scope="module")
def model_server() -> Iterator[tuple[ScriptedModel, str]]:
    """The model fake, taking MODEL_KEY only."""
    model = ScriptedModel([], api_key=MODEL_KEY)
    with LoopbackLLM(model) as server:
        yield model, server.url


@pytest.fixture(autouse=True)
def model_configured(
    model_server: tuple[ScriptedModel, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every test starts with a working model key (and no `.env` of the repository's)."""
    monkeypatch.chdir(tmp_path)
    for name in MODEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("bot.agents.model_keys.held_secrets", dict)
    monkeypatch.setenv("ANTHROPIC_API_KEY", MODEL_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", model_server[1])


@pytest.fixture(scope="module")
def keeping_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server configured as AIOS needs it: AOF on, noeviction."""
    server = embedded_redis.start(tmp_path_factory.mktemp("doctor-redis"), appendonly=True)
    yield server.url
    server.stop()


def healthy(fake: FakeGitHub, redis_url: str | None, **overrides: object) -> Settings:
    return app_settings(fake, redis_url, **{"public_url": PUBLIC_URL, **overrides})


async def doctor(settings: Settings) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_doctor(settings, out)
    return code, out.getvalue()


def problems(report: str) -> list[tuple[str, str]]:
    """(✗ line, its fix) for every problem; a ✗ without a fix line fails here."""
    lines = report.splitlines()
    found = []
    for index, line in enumerate(lines):
        if line.startswith("✗ "):
            fix = lines[index + 1] if index + 1 < len(lines) else ""
            assert fix.startswith("    fix: "), f"no fix under {line!r}"
            found.append((line[2:], fix.removeprefix("    fix: ")))
    return found


def only_problem(report: str) -> tuple[str, str]:
    found = problems(report)
    assert len(found) == 1, report
    return found[0]


def random_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode()


def test_a_healthy_setup_prints_only_ticks(
    fake: FakeGitHub, keeping_redis: str, tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIOS_", "APP_", "GITHUB_", "PRIVATE_KEY", "WEBHOOK_", "REDIS_"))
    }
    env.update(fake.env())
    env.update(
        REDIS_URL=keeping_redis,
        AIOS_PUBLIC_URL=PUBLIC_URL,
        AIOS_DATA_DIR=str(tmp_path / "data"),
        ANTHROPIC_API_KEY=MODEL_KEY,
        ANTHROPIC_BASE_URL=os.environ["ANTHROPIC_BASE_URL"],
    )
    done = subprocess.run(
        [AIOS, "doctor"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""  # the report alone: no log line per request
    report = done.stdout
    assert "✗" not in report
    assert set(line[0] for line in report.splitlines()) == {"✓"}
    for expected in (
        "✓ settings valid",
        f"✓ App 'aios' (id {fake.app_id}) authenticated at {fake.url}",
        f"✓ installation 1 on octo-org: 1 repository ({REPO})",
        f"✓ webhook {HOOK_URL} (JSON, secret set, TLS verified)",
        "✓ no failed webhook deliveries in the last 24 h",
        "✓ model provider anthropic at http://127.0.0.1:",
        "✓ redis maxmemory-policy is noeviction",
        "✓ redis append-only file is on",
        "✓ sandbox works (bubblewrap",
        "✓ git version ",
    ):
        assert expected in report, report
    assert fake.webhook_secret not in report + done.stderr
    assert "PRIVATE KEY" not in report + done.stderr
    assert MODEL_KEY not in report + done.stderr


async def test_no_model_key_says_which_variable_and_where_to_set_it(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, fix = only_problem(report)
    assert "no model key" in what and "ANTHROPIC_API_KEY is not set" in what
    assert "/setup/model" in fix and "ANTHROPIC_API_KEY" in fix


async def test_a_model_key_the_provider_refuses(
    fake: FakeGitHub, model_server: tuple[ScriptedModel, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, url = model_server
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
    before = len(model.listings)
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, fix = only_problem(report)
    assert what == f"model provider anthropic at {url}: the key was refused"
    assert "ANTHROPIC_API_KEY" in fix and "sk-ant-wrong" not in report
    assert model.listings[before:] == ["anthropic"]  # one request, no retry


async def test_an_openai_compatible_server_that_is_down(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"http://127.0.0.1:{unused_port()}/v1"
    monkeypatch.setenv("AIOS_LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    monkeypatch.setenv("OPENAI_BASE_URL", closed)
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, _fix = only_problem(report)  # the Anthropic key still works: only this one is wrong
    assert what.startswith(f"model provider openai at {closed}: cannot reach")


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_app_is_checked_on_github_without_redis(fake: FakeGitHub) -> None:
    before = len(fake.requests)
    code, report = await doctor(healthy(fake, None))
    assert code == 0, report
    assert f"✓ App 'aios' (id {fake.app_id}) authenticated" in report
    assert "✓ installation 1 on octo-org" in report
    [get_app] = [r for r in fake.requests[before:] if r.path == "/app"]
    assert get_app.auth == "jwt" and get_app.status == 200


async def test_an_app_id_and_key_github_does_not_know_give_401(fake: FakeGitHub) -> None:
    # The finding of issue 12: APP_ID=123 and a random key printed ✓ everywhere.
    before = len(fake.requests)
    key = random_key()
    code, report = await doctor(healthy(fake, None, app_id=123, private_key=key))
    assert code == 1
    what, fix = only_problem(report)
    assert what.startswith(f"GitHub refused the App credentials at {fake.url}: 401 ")
    assert "check APP_ID (123) and that PRIVATE_KEY is the App's current key" in fix
    # Nothing else is asked as an App GitHub refused.
    assert {r.path for r in fake.requests[before:]} == {"/app"}
    assert "PRIVATE KEY" not in report and key.splitlines()[1] not in report


async def test_an_app_installed_nowhere_says_where_to_install_it(fake: FakeGitHub) -> None:
    with fake.lock:
        fake.state.installations.clear()
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, fix = only_problem(report)
    assert what == "App 'aios' is not installed anywhere: no events reach AIOS"
    assert fix == "install the App: https://github.com/apps/aios/installations/new"


async def test_an_installation_without_repositories_is_a_problem(fake: FakeGitHub) -> None:
    fake.add_installation(2, "empty-org", [])
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    assert f"✓ installation 1 on octo-org: 1 repository ({REPO})" in report
    what, fix = only_problem(report)
    assert what == "installation 2 on empty-org has access to no repository"
    assert fix.startswith("choose repositories at https://github.com/organizations/empty-org/")
    # The token doctor mints to look can list repositories and nothing else.
    minted = fake.calls("POST", "/app/installations/2/access_tokens")
    assert minted[-1].json == {"permissions": {"metadata": "read"}}


async def test_a_webhook_url_other_than_the_public_url(fake: FakeGitHub) -> None:
    fake.set_hook_config(url="https://old-tunnel.example.net/webhook")
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, fix = only_problem(report)
    assert what == (
        "the App's webhook URL is https://old-tunnel.example.net/webhook, "
        f"not {HOOK_URL} (AIOS_PUBLIC_URL + /webhook)"
    )
    assert fix == f"set Webhook URL to {HOOK_URL} at {SETTINGS_PAGE}, or correct AIOS_PUBLIC_URL"


async def test_a_form_encoded_webhook(fake: FakeGitHub) -> None:
    fake.set_hook_config(content_type="form")
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, fix = only_problem(report)
    assert what.startswith("the App's webhook content type is 'form'")
    assert fix == f"set Content type to application/json at {SETTINGS_PAGE}"


async def test_a_webhook_without_secret(fake: FakeGitHub) -> None:
    fake.set_hook_config(secret_set=False)
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, fix = only_problem(report)
    assert what == "the App's webhook has no secret: AIOS refuses unsigned deliveries"
    assert fix == f"set Webhook secret to the value of WEBHOOK_SECRET at {SETTINGS_PAGE}"


async def test_a_webhook_that_skips_tls_verification(fake: FakeGitHub) -> None:
    fake.set_hook_config(insecure_ssl="1")
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, fix = only_problem(report)
    assert "does not verify TLS certificates" in what
    assert fix == f"enable SSL verification at {SETTINGS_PAGE}"


async def test_failed_deliveries_of_the_last_day_are_counted_by_status(fake: FakeGitHub) -> None:
    old = fake.add_hook_delivery(status_code=500)
    with fake.lock:
        old.delivered_at = iso(time.time() - 25 * 3600)  # outside the last day
    fake.add_hook_delivery(status_code=503)
    fake.add_hook_delivery(status_code=503)
    fake.add_hook_delivery(status_code=0)
    retried = fake.add_hook_delivery(status_code=502)
    fake.add_hook_delivery(status_code=202, guid=retried.guid, redelivery=True)
    fake.add_hook_delivery(status_code=202)
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, fix = only_problem(report)
    assert what == (
        "3 webhook deliveries failed in the last 24 h and no later attempt got through "
        "(no connection: 1, status 503: 2)"
    )
    assert fix.endswith("fix it, then run `aios redeliver`")
    assert f"{SETTINGS_PAGE}/advanced" in fix


async def test_redis_without_append_only_file(
    fake: FakeGitHub, redis_server: embedded_redis.EmbeddedRedis
) -> None:
    # The session's redis-server runs with `--appendonly no`.
    code, report = await doctor(healthy(fake, redis_server.url))
    assert code == 1
    what, fix = only_problem(report)
    assert what.startswith("redis append-only file is off (appendonly no)")
    assert fix.startswith("set `appendonly yes` in redis.conf")


async def test_redis_that_evicts_keys(fake: FakeGitHub, keeping_redis: str) -> None:
    client = redis.Redis.from_url(keeping_redis)
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        code, report = await doctor(healthy(fake, keeping_redis))
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.close()
    assert code == 1
    what, fix = only_problem(report)
    assert what.startswith("redis maxmemory-policy is 'allkeys-lru'")
    assert fix.startswith("set `maxmemory-policy noeviction`")


async def test_git_missing_from_path(
    fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only what the sandbox needs is on PATH, so git is the one thing missing.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bwrap", "setpriv", "redis-server"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    code, report = await doctor(healthy(fake, None))
    assert code == 1
    what, fix = only_problem(report)
    assert what == "git is not on PATH: agents cannot clone, commit or push"
    assert fix.startswith("install git")


async def test_doctor_says_when_agents_commands_cannot_be_sandboxed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    [finding] = await check_sandbox(Settings(), Probe())
    assert not finding.ok and "will be refused" in finding.what
    assert INSTALL_HINT in finding.fix


async def test_nothing_configured_says_what_to_do() -> None:
    code, report = await doctor(Settings(redis_url="redis://127.0.0.1:1/0"))
    assert code == 1
    found = dict(problems(report))
    assert "WEBHOOK_SECRET is not set: deliveries will be refused" in found
    assert "open /setup" in found["no GitHub App credentials (APP_ID, PRIVATE_KEY)"]
    assert any(what.startswith("redis unreachable at REDIS_URL") for what in found)
