"""Doctor checks of this machine: settings, Redis, the sandbox and git."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import redis.asyncio

from bot.agents.bwrap import detect_isolation
from bot.agents.fail_closed import (
    SANDBOX_MODES,
    UNISOLATED,
    deployment_fix,
    detect_deployment,
    sandbox_mode,
)
from bot.agents.model_keys import agent_environment
from bot.app.doctor.findings import Finding, Probe, bad, good, warn
from bot.app.embedded_redis import INSTALL_HINT
from bot.runtime import redis_clients
from bot.settings import Settings, SettingsError

MIN_REDIS = (6, 2)
"""RQ 2+ relies on commands Redis gained in 6.2 (LMOVE, GETDEL…)."""

GIT_TIMEOUT_S = 10.0

GIT_INSTALL_HINT = (
    "install git (Debian/Ubuntu: sudo apt-get install -y git; macOS: xcode-select --install) "
    "and make sure it is on the PATH of `aios serve` and `aios worker`"
)


async def check_settings(settings: Settings, _probe: Probe) -> list[Finding]:
    findings = [good("settings valid")]
    if settings.webhook_secret is None:
        findings.append(
            bad(
                "WEBHOOK_SECRET is not set: deliveries will be refused",
                "register the App at /setup, or set WEBHOOK_SECRET",
            )
        )
    return findings


async def check_redis(settings: Settings, _probe: Probe) -> list[Finding]:
    """Reachable, recent enough, and keeping what AIOS stores: no eviction, AOF on."""
    if settings.redis_url is None:
        if shutil.which("redis-server") is None:
            return [bad("no REDIS_URL and no redis-server to embed", INSTALL_HINT)]
        return [good("no REDIS_URL: `aios serve` will start its own redis-server (AOF on)")]
    where = redis_clients.where(settings.redis_url)
    client = redis_clients.async_client(settings.redis_url)
    try:
        # INFO, not CONFIG GET: managed Redis services that forbid CONFIG still answer it.
        server = await client.info("server")
        memory = await client.info("memory")
        persistence = await client.info("persistence")
    except redis.RedisError as exc:
        return [
            bad(
                f"redis unreachable at REDIS_URL ({where}): {exc}",
                "check REDIS_URL, or unset it to let `aios serve` run its own Redis",
            )
        ]
    finally:
        await client.aclose()
    version = str(server["redis_version"])
    findings = [good(f"redis {version} reachable at {where}")]
    if _version(version) < MIN_REDIS:
        findings.append(
            bad(f"redis {version} is older than 6.2", "upgrade to Redis 6.2 or newer (RQ needs it)")
        )
    policy = redis_clients.maxmemory_policy(memory)
    if redis_clients.eviction_problem(policy, settings.redis_url):
        findings.append(
            bad(
                f"redis maxmemory-policy is {policy!r}: Redis may evict queued jobs; "
                "`aios serve` and `aios worker` refuse to start on it",
                "set `maxmemory-policy noeviction` in redis.conf "
                "(or CONFIG SET maxmemory-policy noeviction)",
            )
        )
    else:
        findings.append(good("redis maxmemory-policy is noeviction"))
    findings.append(_aof_finding(persistence))
    return findings


def _aof_finding(persistence: dict[str, Any]) -> Finding:
    if str(persistence.get("aof_enabled")) == "1":
        return good("redis append-only file is on")
    return bad(
        "redis append-only file is off (appendonly no): a Redis restart loses queued jobs, "
        "stored deliveries and work items",
        "set `appendonly yes` in redis.conf (or CONFIG SET appendonly yes, then CONFIG "
        "REWRITE), or turn on AOF persistence in your provider's settings",
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


async def check_sandbox(_settings: Settings, _probe: Probe) -> list[Finding]:
    """Whether agents' commands can be confined here: else the `run` tool refuses them, or,
    with the operator's AIOS_SANDBOX=unisolated, runs them without isolation (a ⚠)."""
    try:
        mode = sandbox_mode(agent_environment())
    except SettingsError as exc:
        return [
            bad(f"sandbox settings: {exc}", f"set {exc.variable} to {' or '.join(SANDBOX_MODES)}")
        ]
    isolation = await asyncio.to_thread(detect_isolation)
    if isolation.available:
        moot = "; AIOS_SANDBOX=unisolated changes nothing here" if mode == UNISOLATED else ""
        return [good(f"sandbox works ({isolation.describe()}){moot}")]
    if mode == UNISOLATED:
        return [
            warn(
                "the sandbox does not work here and AIOS_SANDBOX=unisolated: agents' commands "
                "run WITHOUT isolation (they can read the worker's files and reach the "
                f"network; every progress comment says so): {isolation.problem}",
                "isolate them, then unset AIOS_SANDBOX: "
                + (deployment_fix(isolation.problem, detect_deployment()) or isolation.problem),
            )
        ]
    return [
        bad(
            "the sandbox does not work here: agents' `run` commands will be refused",
            isolation.refusal(),
        )
    ]


async def check_git(_settings: Settings, _probe: Probe) -> list[Finding]:
    """Agents clone, commit and push with the git on PATH."""
    git = shutil.which("git")
    if git is None:
        return [bad("git is not on PATH: agents cannot clone, commit or push", GIT_INSTALL_HINT)]
    process = await asyncio.create_subprocess_exec(
        git,
        "--version",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return [bad(f"{git} --version did not answer in {GIT_TIMEOUT_S:.0f} s", GIT_INSTALL_HINT)]
    said = output.decode(errors="replace").strip()
    if process.returncode != 0:
        return [bad(f"{git} --version failed: {said}", GIT_INSTALL_HINT)]
    return [good(f"{said} ({git})")]
