"""`aios doctor`: check settings, Redis, App credentials and the sandbox; say how to fix each."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from typing import TextIO

import redis.asyncio
from gidgethub import GitHubException

from bot.agents.bwrap import detect_isolation
from bot.app.embedded_redis import INSTALL_HINT
from bot.github.sessions import app_client
from bot.runtime import redis_clients
from bot.settings import Settings


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    fix: str = ""


async def check_redis(settings: Settings) -> list[Finding]:
    if settings.redis_url is None:
        if shutil.which("redis-server") is None:
            return [Finding(False, "no REDIS_URL and no redis-server to embed", INSTALL_HINT)]
        return [Finding(True, "no REDIS_URL: `aios serve` will start its own redis-server")]
    client = redis_clients.async_client(settings.redis_url)
    try:
        info = await client.info("server")
        # INFO, not CONFIG GET: managed Redis services that forbid CONFIG still answer it.
        policy = redis_clients.maxmemory_policy(await client.info("memory"))
    except redis.RedisError as exc:
        return [
            Finding(
                False,
                f"redis unreachable at REDIS_URL: {exc}",
                "check REDIS_URL, or unset it to let `aios serve` run its own Redis",
            )
        ]
    finally:
        await client.aclose()
    findings = [Finding(True, f"redis {info['redis_version']} reachable")]
    if int(str(info["redis_version"]).split(".")[0]) < 6:
        findings.append(
            Finding(False, "redis is older than 6.2", "upgrade to Redis 6.2 or newer (RQ needs it)")
        )
    if redis_clients.eviction_problem(policy, settings.redis_url):
        findings.append(
            Finding(
                False,
                f"redis maxmemory-policy is {policy!r}: Redis may evict queued jobs; "
                "`aios serve` and `aios worker` refuse to start on it",
                "set `maxmemory-policy noeviction` in redis.conf "
                "(or CONFIG SET maxmemory-policy noeviction)",
            )
        )
    return findings


async def check_app(settings: Settings) -> list[Finding]:
    if not settings.has_app_credentials:
        return [
            Finding(
                False,
                "no GitHub App credentials (APP_ID, PRIVATE_KEY)",
                "run `aios serve` and open /setup to register the App, or set them in .env",
            )
        ]
    if settings.redis_url is None:
        return [
            Finding(
                True,
                "App credentials present (not checked against GitHub: no REDIS_URL "
                "to cache tokens in; set REDIS_URL to check them)",
            )
        ]
    client = redis_clients.async_client(settings.redis_url)
    try:
        async with app_client(settings, client) as gh:
            app = await gh.getitem("/app")
    except GitHubException as exc:
        return [
            Finding(
                False,
                f"GitHub refused the App credentials at {settings.github_api_url}: {exc}",
                "check APP_ID and that PRIVATE_KEY is the App's current private key",
            )
        ]
    except OSError as exc:
        return [
            Finding(
                False,
                f"cannot reach {settings.github_api_url}: {exc}",
                "check GITHUB_API_URL and the network",
            )
        ]
    finally:
        await client.aclose()
    return [
        Finding(
            True,
            f"App {app.get('slug')!r} (id {app.get('id')}) authenticated "
            f"at {settings.github_api_url}",
        )
    ]


def check_sandbox() -> list[Finding]:
    """Whether agents' commands can be confined here (else the `run` tool refuses them)."""
    isolation = detect_isolation()
    if isolation.available:
        return [Finding(True, f"sandbox works ({isolation.describe()})")]
    return [
        Finding(
            False,
            "the sandbox does not work here: agents' `run` commands will be refused",
            isolation.problem,
        )
    ]


async def run_doctor(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Print every finding; exit status 1 when anything needs fixing."""
    findings = [Finding(True, "settings valid")]
    if settings.webhook_secret is None:
        findings.append(
            Finding(
                False,
                "WEBHOOK_SECRET is not set: deliveries will be refused",
                "register the App at /setup, or set WEBHOOK_SECRET",
            )
        )
    findings += await check_redis(settings)
    findings += await check_app(settings)
    findings += check_sandbox()
    for finding in findings:
        print(f"{'✓' if finding.ok else '✗'} {finding.what}", file=out)
        if finding.fix:
            print(f"    fix: {finding.fix}", file=out)
    return 0 if all(f.ok for f in findings) else 1
