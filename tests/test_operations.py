"""Operator commands against the GitHub fake and real Redis: redeliver, a missing redis."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app.redeliver import failed_guids, redeliver_failed
from bot.settings import Settings
from bot.testbed.github import FakeGitHub


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
