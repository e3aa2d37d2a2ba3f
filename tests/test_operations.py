"""Operator commands against the GitHub fake and real Redis: doctor, redeliver, missing redis."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.agents.bwrap import INSTALL_HINT
from bot.app.doctor import check_sandbox, run_doctor
from bot.app.redeliver import failed_guids, redeliver_failed
from bot.settings import Settings
from tests.fakes.github import FakeGitHub


def app_settings(fake: FakeGitHub, redis_url: str | None, **overrides: object) -> Settings:
    options: dict[str, object] = {
        "app_id": fake.app_id,
        "private_key": fake.private_key_pem,
        "webhook_secret": fake.webhook_secret,
        "github_api_url": fake.url,
        "redis_url": redis_url,
        **overrides,
    }
    return Settings(**options)  # type: ignore[arg-type]


async def test_doctor_passes_a_healthy_setup(github_fake: FakeGitHub, redis_url: str) -> None:
    out = io.StringIO()
    assert await run_doctor(app_settings(github_fake, redis_url), out) == 0
    report = out.getvalue()
    assert "✓ redis" in report
    assert "✓ App 'aios' (id 12345) authenticated" in report
    assert "✓ sandbox works (bubblewrap: network cut" in report
    assert "✗" not in report


def test_doctor_says_when_agents_commands_cannot_be_sandboxed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    [finding] = check_sandbox()
    assert not finding.ok and "will be refused" in finding.what
    assert INSTALL_HINT in finding.fix


async def test_doctor_names_each_problem_and_its_fix(
    github_fake: FakeGitHub, redis_url: str, redis_client: object
) -> None:
    other_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    redis_client.config_set("maxmemory-policy", "allkeys-lru")  # type: ignore[attr-defined]
    try:
        out = io.StringIO()
        code = await run_doctor(app_settings(github_fake, redis_url, private_key=other_key), out)
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")  # type: ignore[attr-defined]
    report = out.getvalue()
    assert code == 1
    assert "✗ redis maxmemory-policy is 'allkeys-lru'" in report
    assert "fix: set `maxmemory-policy noeviction`" in report
    assert "✗ GitHub refused the App credentials" in report
    github_fake.forget_violations()


async def test_doctor_without_redis_or_app_says_what_to_do(tmp_path: Path) -> None:
    out = io.StringIO()
    dead = "redis://127.0.0.1:1/0"
    assert await run_doctor(Settings(redis_url=dead), out) == 1
    report = out.getvalue()
    assert "✗ WEBHOOK_SECRET is not set" in report
    assert "✗ redis unreachable at REDIS_URL" in report
    assert "✗ no GitHub App credentials" in report
    assert "open /setup" in report


def test_failed_guids_skips_what_some_attempt_delivered() -> None:
    now = "2026-11-24T10:00:00Z"
    deliveries = [
        {"id": 1, "guid": "a", "status_code": 503, "delivered_at": now},
        {"id": 2, "guid": "b", "status_code": 502, "delivered_at": now},
        {"id": 3, "guid": "b", "status_code": 202, "delivered_at": now},
        {"id": 4, "guid": "c", "status_code": 0, "delivered_at": now},
        {"id": 5, "guid": "a", "status_code": 503, "delivered_at": "2026-11-24T10:05:00Z"},
        {"id": 6, "guid": "old", "status_code": 503, "delivered_at": "2026-11-01T00:00:00Z"},
    ]
    since = datetime(2026, 11, 24, 9, 0, tzinfo=UTC).timestamp()
    assert failed_guids(deliveries, since=since) == {"a": 5, "c": 4}


async def test_redeliver_asks_github_again_for_what_aios_refused(
    github_fake: FakeGitHub, redis_url: str
) -> None:
    lost = github_fake.add_hook_delivery(status_code=503)
    recovered = github_fake.add_hook_delivery(status_code=503)
    github_fake.add_hook_delivery(status_code=202, guid=recovered.guid, redelivery=True)
    github_fake.add_hook_delivery(status_code=202)
    asked = await redeliver_failed(app_settings(github_fake, redis_url), hours=1)
    assert asked == 1
    assert github_fake.redelivery_requests == [lost.id]


def test_serve_without_redis_server_says_how_to_install_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PATH"] = str(bin_dir)  # a PATH with no redis-server on it
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "no redis-server binary found" in result.stderr
    assert "apt-get install -y redis-server" in result.stderr


@pytest.mark.parametrize("command", [["worker"], ["redeliver"]])
def test_commands_that_need_configuration_say_which(command: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "APP_ID")}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert ("REDIS_URL" if command == ["worker"] else "APP_ID") in result.stderr
