"""Deployment files parse, and every command they run is one the `aios` CLI accepts."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.agents.egress import RELAY_PYTHONS
from bot.app.serve import WORKER_STOP_TIMEOUT_S
from bot.cli import build_parser
from tests.metrics_scrape import check_names_served, live_samples

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

    assert set(services) == {"redis", "web", "worker", "quick-worker"}
    redis_cmd = services["redis"]["command"]
    assert redis_cmd[0] == "redis-server"
    assert redis_cmd[redis_cmd.index("--appendonly") + 1] == "yes"
    assert redis_cmd[redis_cmd.index("--maxmemory-policy") + 1] == "noeviction"
    assert services["redis"]["image"].startswith("redis:7")
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    for name in ("web", "worker", "quick-worker"):
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
    # The worker's sandbox builds namespaces, which Docker's default profiles forbid, and
    # mounts a fresh /proc, which the kernel refuses under Docker's masks over /proc paths.
    assert set(compose()["services"]["worker"]["security_opt"]) == {
        "seccomp=unconfined",
        "apparmor=unconfined",
        "systempaths=unconfined",
    }


def test_the_image_has_what_the_sandbox_runs() -> None:
    """bubblewrap confines; util-linux gives `prlimit` (limits) and `setpriv` (dropping
    root); the egress relay inside runs the system's python3 under /usr, not the image's."""
    [install] = [
        run for name, run in dockerfile_instructions() if name == "RUN" and "apt-get install" in run
    ]
    packages = set(install.split("--no-install-recommends", 1)[1].split("&&", 1)[0].split())
    assert {"git", "bubblewrap", "util-linux", "python3-minimal"} <= packages
    assert RELAY_PYTHONS[0] == "/usr/bin/python3"  # what python3-minimal installs


def test_the_shipped_deployments_isolate_and_never_opt_out() -> None:
    """AIOS_SANDBOX=unisolated is the operator's choice, never a shipped default."""
    for service in compose()["services"].values():
        assert "AIOS_SANDBOX" not in (service.get("environment") or {})
    assert "AIOS_SANDBOX" not in fly()["env"]
    assert "AIOS_SANDBOX" not in " ".join(a for n, a in dockerfile_instructions() if n == "ENV")
    # Fly machines are VMs whose kernel allows user namespaces: nothing to add, and it says so.
    assert "user namespaces" in (ROOT / "fly.toml").read_text()


@pytest.mark.parametrize(
    ("service", "subcommand"), [("web", "serve"), ("worker", "worker"), ("quick-worker", "worker")]
)
def test_compose_commands_are_valid_aios_commands(service: str, subcommand: str) -> None:
    assert_aios_command(compose()["services"][service]["command"], subcommand)


def test_compose_web_runs_no_embedded_workers_and_publishes_8080() -> None:
    web = compose()["services"]["web"]
    args = build_parser().parse_args(web["command"][1:])

    assert args.workers == 0
    assert args.host == ALL_INTERFACES
    assert "8080:8080" in web["ports"]


@pytest.mark.parametrize("service", ["redis", "web", "worker", "quick-worker"])
def test_compose_healthchecks_are_runnable(service: str) -> None:
    test = compose()["services"][service]["healthcheck"]["test"]

    assert test[0] == "CMD"
    if test[1] == "python":
        compile(test[3], f"<{service} healthcheck>", "exec")
    else:
        assert test[1:] == ["redis-cli", "ping"]


@pytest.mark.parametrize("service", ["worker", "quick-worker"])
def test_a_worker_is_healthy_only_while_registered_in_redis(service: str) -> None:
    """Its RQ registration, found in Redis by the container's host name: the heartbeat
    keeps it, so a hung worker or an unreachable Redis turns the container unhealthy."""
    code = compose()["services"][service]["healthcheck"]["test"][3]
    assert "os.environ['REDIS_URL']" in code
    assert "rq.Worker.all" in code and "socket.gethostname()" in code


def test_compose_runs_a_short_jobs_worker_beside_the_agent_workers() -> None:
    services = compose()["services"]
    quick = build_parser().parse_args(services["quick-worker"]["command"][1:])
    agents = build_parser().parse_args(services["worker"]["command"][1:])

    assert quick.quick_only and not agents.quick_only
    assert "security_opt" not in services["quick-worker"]  # it runs no agent commands


def test_the_workers_keep_aios_data_dir_in_a_volume() -> None:
    config = compose()
    [value] = [v for n, v in dockerfile_instructions() if n == "ENV" and "AIOS_DATA_DIR=" in v]
    image_dir = value.split("AIOS_DATA_DIR=", 1)[1].split()[0]
    for service in ("worker", "quick-worker"):
        spec = config["services"][service]
        assert spec["environment"]["AIOS_DATA_DIR"] == image_dir
        assert f"aios-data:{image_dir}" in spec["volumes"]
    assert "aios-data" in config["volumes"]


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


PROMETHEUS = ROOT / "deploy" / "prometheus"


def run_promtool(*args: str) -> None:
    """`promtool` on a deploy file, where it is installed: CI installs it (.ci/run,
    scripts/test); elsewhere the parsing checks below still run."""
    promtool = shutil.which("promtool")
    if promtool is not None:
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_rules_parse_and_name_only_what_metrics_serves(redis_url: str) -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    [group] = rules["groups"]
    samples = live_samples(redis_url)
    assert {rule["alert"] for rule in group["rules"]} >= {
        "AIOSProviderSpendLimit",
        "AIOSJobsFailing",
        "AIOSWebhook5xx",
        "AIOSBudgetNearLimit",
        "AIOSQueueBacklog",
        "AIOSDeliveriesNotRouted",
    }
    for rule in group["rules"]:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
        check_names_served(rule["alert"], expr, samples)
    run_promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))


def test_the_scrape_config_reads_the_token_from_a_file_and_loads_the_rules() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())

    assert config["rule_files"] == ["alerts.yml"]
    assert (PROMETHEUS / config["rule_files"][0]).is_file()
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
    assert job["authorization"]["credentials_file"].startswith("/")
    assert "credentials" not in job["authorization"]  # never the token itself in the file
    [target] = [t for static in job["static_configs"] for t in static["targets"]]
    service, _, port = target.partition(":")
    assert f"{port}:8080" in compose()["services"][service]["ports"]
    run_promtool("check", "config", "--syntax-only", str(PROMETHEUS / "prometheus.yml"))


@pytest.mark.parametrize("service", ["web", "worker", "quick-worker"])
def test_containers_get_longer_to_stop_than_a_worker_takes(service: str) -> None:
    """A worker needs up to WORKER_STOP_TIMEOUT_S to stop its agent after a step and requeue
    it; a container killed sooner loses that step's checkpoint (Docker waits 10 s)."""
    grace = compose()["services"][service]["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) > WORKER_STOP_TIMEOUT_S
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    assert fly["kill_signal"] == "SIGTERM" and fly["kill_timeout"] > WORKER_STOP_TIMEOUT_S
