"""Settings: every missing or malformed value names its variable; the CLI exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.agents.config import AgentConfig
from bot.runtime.context import WorkerContext
from bot.settings import Settings, SettingsError


@pytest.fixture(scope="module")
def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def parse(**env: str) -> Settings:
    return Settings.from_env(env, dotenv_path=None)


def test_defaults_need_nothing() -> None:
    settings = parse()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.github_api_url == "https://api.github.com"
    assert settings.git_base_url == "https://github.com"
    assert settings.redis_url is None
    assert settings.data_dir == Path(".aios")
    assert settings.log_format == "console"
    assert not settings.has_app_credentials


def test_full_configuration(pem: str) -> None:
    settings = parse(
        APP_ID="42",
        PRIVATE_KEY=pem.replace("\n", "\\n"),
        WEBHOOK_SECRET="s3cret",
        REDIS_URL="redis://127.0.0.1:7000/1",
        GITHUB_API_URL="https://ghe.example.com/api/v3/",
        HOST="0.0.0.0",
        PORT="9000",
        LOG_LEVEL="debug",
        AIOS_ENV="production",
    )
    assert settings.app_id == 42
    assert settings.private_key == pem
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
    assert settings.git_base_url == "https://ghe.example.com"
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "json"
    assert settings.is_production


def test_private_key_path(tmp_path: Path, pem: str) -> None:
    path = tmp_path / "app.pem"
    path.write_text(pem)
    settings = parse(APP_ID="1", PRIVATE_KEY_PATH=str(path), WEBHOOK_SECRET="x")
    assert settings.private_key == pem


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=9100\nHOST=0.0.0.0\n")
    settings = Settings.from_env({"PORT": "9200"}, dotenv_path=dotenv)
    assert settings.port == 9200
    assert settings.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"PORT": "eighty"}, "PORT", "whole number"),
        ({"PORT": "70000"}, "PORT", "between 0 and 65535"),
        ({"APP_ID": "0"}, "APP_ID", "at least 1"),
        ({"APP_ID": "7"}, "PRIVATE_KEY or PRIVATE_KEY_PATH", "required"),
        ({"PRIVATE_KEY": "not a key", "APP_ID": "7"}, "PRIVATE_KEY", "not a PEM"),
        (
            {"PRIVATE_KEY_PATH": "/nonexistent/key.pem", "APP_ID": "7"},
            "PRIVATE_KEY_PATH",
            "cannot read",
        ),
        ({"GITHUB_API_URL": "ftp://x"}, "GITHUB_API_URL", "http(s) URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL", "redis://"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "one of"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT", "one of"),
        ({"AIOS_ENV": "staging"}, "AIOS_ENV", "one of"),
        ({"AIOS_MAX_BODY_BYTES": "10"}, "AIOS_MAX_BODY_BYTES", "at least"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(**env)
    assert caught.value.variable == variable
    assert words in caught.value.problem


def test_webhook_secret_is_never_optional_with_credentials(pem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(APP_ID="1", PRIVATE_KEY=pem)
    assert caught.value.variable == "WEBHOOK_SECRET"


def test_secrets_are_not_in_repr(pem: str) -> None:
    settings = parse(APP_ID="1", PRIVATE_KEY=pem, WEBHOOK_SECRET="hush-hush")
    assert "hush-hush" not in repr(settings)
    assert "PRIVATE KEY" not in repr(settings)


def test_cli_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "doctor"],
        env={"PATH": "/usr/bin:/bin", "PORT": "http"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "PORT" in result.stderr
    assert "whole number" in result.stderr


def test_git_remote_may_be_a_local_directory_for_mirrors_and_tests(tmp_path: Path) -> None:
    settings = parse(GITHUB_GIT_URL=f"file://{tmp_path}/remotes/")
    assert settings.git_base_url == f"file://{tmp_path}/remotes"
    with pytest.raises(SettingsError):
        parse(GITHUB_API_URL=f"file://{tmp_path}")


HANDOFF_PROBE = """
import json, os, subprocess, sys
from bot.agents.config import AgentConfig
from bot.app.processes import spawn_aios
from bot.settings import Settings, held_secrets, hold_secrets
hold_secrets(dotenv_path=None)
settings = Settings.from_env(dotenv_path=None)
if os.environ.get("AIOS_PROBE_CHILD"):
    print(json.dumps({"held": held_secrets(), "llm": AgentConfig.from_env().anthropic_api_key,
                      "key": settings.private_key}))
    sys.exit(0)
child = spawn_aios([sys.executable, "-c", sys.argv[1]], env={**os.environ, "AIOS_PROBE_CHILD": "1"})
assert child.wait() == 0
grandchild = subprocess.run(["env"], capture_output=True, text=True, check=True).stdout
print(json.dumps({"left": sorted(k for k in os.environ if k in held_secrets()),
                  "env_of_a_child": grandchild}), file=sys.stderr)
"""


def test_secrets_leave_the_environment_and_reach_child_aios_processes_by_descriptor(
    pem: str, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "APP_ID": "1",
        "PRIVATE_KEY": pem,
        "WEBHOOK_SECRET": "hush-hush-webhook",
        "ANTHROPIC_API_KEY": "sk-ant-handoff-0123456789",
        "GITHUB_CLIENT_SECRET": "client-secret-0123",
    }
    done = subprocess.run(
        [sys.executable, "-c", HANDOFF_PROBE, HANDOFF_PROBE],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)
    assert child["held"] == {k: v for k, v in env.items() if k not in ("PATH", "APP_ID")}
    assert child["llm"] == "sk-ant-handoff-0123456789" and child["key"] == pem.strip()
    parent = json.loads(done.stderr.strip().splitlines()[-1])
    assert parent["left"] == []
    for value in ("hush-hush-webhook", "sk-ant-handoff", "client-secret", "PRIVATE KEY"):
        assert value not in parent["env_of_a_child"]


def test_every_bad_variable_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        parse(PORT="eighty", LOG_LEVEL="loud", REDIS_URL="localhost:6379")
    assert [problem.variable for problem in caught.value.problems] == [
        "REDIS_URL",
        "LOG_LEVEL",
        "PORT",
    ]
    assert "whole number" in str(caught.value)
    assert "one of" in str(caught.value) and "redis://" in str(caught.value)


def test_the_agent_runtime_reads_dotenv_under_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider chosen in .env (the setup page's model step writes it) reaches the agents;
    the environment still wins, and nothing of .env is put into the environment."""
    (tmp_path / ".env").write_text(
        "AIOS_LLM_PROVIDER=openai\nOPENAI_BASE_URL=http://127.0.0.1:11434/v1\n"
        "OPENAI_API_KEY=sk-not-for-children\nAIOS_MODEL=from-dotenv\n"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("AIOS_LLM_PROVIDER", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIOS_MODEL", "from-environment")
    config = AgentConfig.from_env()
    assert config.provider == "openai"
    assert config.openai_base_url == "http://127.0.0.1:11434/v1"
    assert config.openai_api_key == "sk-not-for-children"
    assert [ref.model for ref in config.routing.default] == ["from-environment"]
    assert "OPENAI_API_KEY" not in os.environ and "AIOS_LLM_PROVIDER" not in os.environ


def test_the_github_write_pace_is_a_setting_the_jobs_clients_use() -> None:
    settings = Settings.from_env(environ={"AIOS_GITHUB_WRITE_SPACING_S": "0.25"}, dotenv_path=None)
    assert settings.github_write_spacing_s == 0.25
    context = WorkerContext(settings=settings, redis=None, jobs=None)  # type: ignore[arg-type]
    assert context.github_policy.write_spacing_s == 0.25
    assert Settings.from_env(environ={}, dotenv_path=None).github_write_spacing_s == 1.0
    for bad in ("soon", "-1", "600"):
        with pytest.raises(SettingsError, match="AIOS_GITHUB_WRITE_SPACING_S"):
            Settings.from_env(environ={"AIOS_GITHUB_WRITE_SPACING_S": bad}, dotenv_path=None)
