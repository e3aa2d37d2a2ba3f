"""Deployment files parse, and every command they run is one the `aios` CLI accepts."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import yaml

from bot.agents.breaker import RedisBreaker
from bot.app.metrics import WORKER_COUNTERS, WebMetrics
from bot.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
ALL_INTERFACES = "0.0.0.0"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def fly() -> dict[str, Any]:
    return tomllib.loads((ROOT / "fly.toml").read_text())


def assert_aios_command(argv: list[str], subcommand: str) -> None:
    assert argv[:2] == ["aios", subcommand]
    args = build_parser().parse_args(argv[1:])
    assert args.command == subcommand


def test_dockerfile_runs_the_web_by_default_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    by_name: dict[str, list[str]] = {}
    for name, arguments in instructions:
        by_name.setdefault(name, []).append(arguments)

    assert by_name["FROM"] == ["python:3.11-slim"]
    [cmd] = by_name["CMD"]
    argv = json.loads(cmd)
    assert argv == ["aios", "serve", "--host", ALL_INTERFACES]
    assert_aios_command(argv, "serve")
    [user] = by_name["USER"]
    assert user not in ("root", "0")
    assert [name for name, _ in instructions].index("USER") > [
        name for name, _ in instructions
    ].index("RUN")
    assert by_name["EXPOSE"] == ["8080"]
    assert any("--no-install-recommends git bubblewrap" in run for run in by_name["RUN"])
    assert any("pip install --no-cache-dir ." in run for run in by_name["RUN"])


def test_dockerfile_copies_what_the_package_build_needs() -> None:
    copied = " ".join(a for n, a in dockerfile_instructions() if n == "COPY").split()
    # bot/github-app-manifest.yml is a link to the repo root copy: both must be in the build.
    assert {"pyproject.toml", "github-app-manifest.yml", "bot/"} <= set(copied)
    assert (ROOT / "bot" / "github-app-manifest.yml").is_symlink()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored
    assert "github-app-manifest.yml" not in ignored and "bot" not in ignored


def test_dockerfile_healthcheck_probes_healthz_with_python() -> None:
    [check] = [a for n, a in dockerfile_instructions() if n == "HEALTHCHECK"]
    argv = json.loads(check.split("CMD", 1)[1])

    assert argv[:2] == ["python", "-c"]
    assert "/healthz" in argv[2]
    compile(argv[2], "<healthcheck>", "exec")


def test_compose_services_share_one_redis_that_never_evicts() -> None:
    services = compose()["services"]

    assert set(services) == {"redis", "web", "worker"}
    redis_cmd = services["redis"]["command"]
    assert redis_cmd[0] == "redis-server"
    assert redis_cmd[redis_cmd.index("--appendonly") + 1] == "yes"
    assert redis_cmd[redis_cmd.index("--maxmemory-policy") + 1] == "noeviction"
    assert services["redis"]["image"].startswith("redis:7")
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    for name in ("web", "worker"):
        service = services[name]
        assert service["env_file"] == ".env"
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["AIOS_ENV"] == "production"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_every_place_that_installs_system_packages_installs_bubblewrap() -> None:
    """Agents' commands run only in bubblewrap: without it AIOS refuses them."""
    assert "missing+=(bubblewrap)" in (ROOT / ".ci" / "run").read_text()
    for script in ("test", "serve"):
        assert "bwrap:bubblewrap" in (ROOT / "scripts" / script).read_text()
    # The worker's sandbox builds namespaces, which Docker's default profiles forbid.
    assert set(compose()["services"]["worker"]["security_opt"]) == {
        "seccomp=unconfined",
        "apparmor=unconfined",
    }


@pytest.mark.parametrize(("service", "subcommand"), [("web", "serve"), ("worker", "worker")])
def test_compose_commands_are_valid_aios_commands(service: str, subcommand: str) -> None:
    assert_aios_command(compose()["services"][service]["command"], subcommand)


def test_compose_web_runs_no_embedded_workers_and_publishes_8080() -> None:
    web = compose()["services"]["web"]
    args = build_parser().parse_args(web["command"][1:])

    assert args.workers == 0
    assert args.host == ALL_INTERFACES
    assert "8080:8080" in web["ports"]


@pytest.mark.parametrize("service", ["redis", "web", "worker"])
def test_compose_healthchecks_are_runnable(service: str) -> None:
    test = compose()["services"][service]["healthcheck"]["test"]

    assert test[0] == "CMD"
    if test[1] == "python":
        compile(test[3], f"<{service} healthcheck>", "exec")
    else:
        assert test[1:] == ["redis-cli", "ping"]


def test_fly_runs_web_and_worker_from_one_image_in_production() -> None:
    config = fly()

    assert config["build"]["dockerfile"] == "Dockerfile"
    assert config["env"]["AIOS_ENV"] == "production"
    assert config["env"]["LOG_FORMAT"] == "json"
    assert set(config["processes"]) == {"web", "worker"}
    assert_aios_command(shlex.split(config["processes"]["web"]), "serve")
    assert_aios_command(shlex.split(config["processes"]["worker"]), "worker")
    web_args = build_parser().parse_args(shlex.split(config["processes"]["web"])[1:])
    assert (web_args.workers, web_args.host) == (0, ALL_INTERFACES)


def test_fly_http_service_is_the_web_process_checked_on_healthz() -> None:
    service = fly()["http_service"]

    assert service["processes"] == ["web"]
    assert service["internal_port"] == 8080
    assert service["min_machines_running"] >= 1
    [check] = service["checks"]
    assert (check["method"], check["path"]) == ("GET", "/healthz")


def test_fly_config_holds_no_secrets() -> None:
    env = fly()["env"]

    for name in ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "GITHUB_CLIENT_SECRET", "REDIS_URL"):
        assert name not in env
    assert "fly secrets set" in (ROOT / "fly.toml").read_text()


SELECTOR = re.compile(r"\b(aios_[a-z_]+)(?:\{([^}]*)\})?")


def served_samples(redis_url: str) -> dict[str, set[str]]:
    """Sample name → label names, from /metrics's renderer with one value in every counter
    workers keep and one open circuit, so each family shows its samples."""
    client = redis.Redis.from_url(redis_url)
    for counter in WORKER_COUNTERS:
        client.hset(counter.key, "|".join(["x"] * len(counter.labels)), 1)
    client.close()

    async def render() -> str:
        aclient = redis.asyncio.Redis.from_url(redis_url)
        try:
            breaker = RedisBreaker(aclient, threshold=1)
            await breaker.failure("anthropic:claude-sonnet-5-5")
            metrics = WebMetrics()
            metrics.delivered("issues", "labeled", "accepted", 0.001)
            return (await metrics.render(aclient)).decode()
        finally:
            await aclient.aclose()

    samples: dict[str, set[str]] = {}
    for line in asyncio.run(render()).splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            labels = {part.split("=")[0] for part in rest.rsplit("}", 1)[0].split(",") if part}
            samples.setdefault(name.split(" ")[0], set()).update(labels)
    return samples


def test_the_alert_rules_parse_and_name_only_what_metrics_serves(redis_url: str) -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-alerts.yml").read_text())
    [group] = rules["groups"]
    samples = served_samples(redis_url)
    assert {rule["alert"] for rule in group["rules"]} >= {"AIOSProviderSpendLimit"}
    for rule in group["rules"]:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
        named = SELECTOR.findall(expr)
        assert named, f"{rule['alert']} names no AIOS metric"
        for name, selector in named:
            assert name in samples, f"{rule['alert']}: /metrics serves no {name}"
            used = {part.split("=")[0].strip() for part in selector.split(",") if part}
            assert used <= samples[name], f"{rule['alert']}: {name} has no label {used}"
