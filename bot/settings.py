"""One typed settings object, read from the environment (and `.env`) and validated once."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub caps webhook payloads at 25 MiB; anything bigger is not from GitHub."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "console")
ENVIRONMENTS = ("development", "production")
SECRET_VARIABLES = (
    "PRIVATE_KEY",
    "WEBHOOK_SECRET",
    "GITHUB_CLIENT_SECRET",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "AIOS_METRICS_TOKEN",
)
"""Taken out of the process environment once read, so no child process inherits them."""
SECRETS_FD_VARIABLE = "AIOS_SECRETS_FD"
"""Names the inherited file descriptor an `aios` parent process handed its secrets over on."""
_held: dict[str, str] = {}
T = TypeVar("T")


@dataclass(frozen=True)
class SettingProblem:
    """One missing or malformed variable and what to do about it."""

    variable: str
    problem: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.problem}"


class SettingsError(ValueError):
    """Settings are missing or malformed: `problems` lists every one, each naming its
    variable and the fix; `variable` and `problem` are the first one's."""

    def __init__(self, variable: str, problem: str) -> None:
        self.problems = [SettingProblem(variable, problem)]
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")

    @classmethod
    def of(cls, problems: Sequence[SettingProblem]) -> SettingsError:
        """One error carrying all of `problems` (at least one), so they are fixed in one go."""
        first, *_rest = problems
        error = cls(first.variable, first.problem)
        error.problems = list(problems)
        error.args = ("; ".join(str(problem) for problem in problems),)
        return error


class _Problems:
    """Collects the SettingsErrors of independent checks instead of stopping at the first."""

    def __init__(self) -> None:
        self.found: list[SettingProblem] = []

    def catch(self, check: Callable[[], T]) -> T | None:
        try:
            return check()
        except SettingsError as exc:
            self.found.extend(exc.problems)
            return None

    def add(self, variable: str, problem: str) -> None:
        self.found.append(SettingProblem(variable, problem))

    def about(self, *variables: str) -> bool:
        """Whether a problem was found with any of `variables` (checks that depend on them
        would only repeat it)."""
        return any(problem.variable in variables for problem in self.found)


@dataclass(frozen=True)
class Settings:
    """Everything AIOS reads from its environment, validated.

    Field names follow Probot's environment variables so a maintainer who has run
    a Probot app already knows them.
    """

    app_id: int | None = None
    private_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    github_client_id: str | None = None
    github_client_secret: str | None = field(default=None, repr=False)
    redis_url: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    git_base_url: str = "https://github.com"
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    log_format: str = "console"
    data_dir: Path = Path(".aios")
    environment: str = "development"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    public_url: str | None = None
    webhook_proxy_url: str | None = None
    """A smee.io-compatible server-sent-events channel (WEBHOOK_PROXY_URL, Probot's name)
    that `aios serve` takes deliveries from, for a machine GitHub cannot reach."""
    agent_timeout_s: int = 3600
    """One attempt of an agent job (AIOS_AGENT_TIMEOUT_S); the agent stops a little before."""
    pending_effects_after_s: int = 60
    """A transition's effects pending this long are carried out by the sweeper
    (AIOS_PENDING_EFFECTS_AFTER_S): the job that owed them died for good."""
    github_write_spacing_s: float = 1.0
    """Sustained pace of writes to one installation after a burst (AIOS_GITHUB_WRITE_SPACING_S):
    GitHub asks integrations for about one a second against secondary rate limits."""
    metrics_token: str | None = field(default=None, repr=False)
    """`/metrics` wants `Authorization: Bearer <it>` (AIOS_METRICS_TOKEN); None: open."""

    @property
    def has_app_credentials(self) -> bool:
        return self.app_id is not None and self.private_key is not None

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def secrets(self) -> list[str]:
        """Every secret value held, so redaction can scrub them from any text."""
        values = [
            self.private_key,
            self.webhook_secret,
            self.github_client_secret,
            self.metrics_token,
        ]
        return [v for v in values if v]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
    ) -> Settings:
        """Read settings from `environ` (default: the process environment and the secrets
        `hold_secrets` took out of it) over `.env`.

        Raises:
            SettingsError: listing every variable that is missing or malformed.
        """
        env: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        if environ is None:
            env.update(_held)
        env.update(os.environ if environ is None else environ)
        return _parse(env)


def hold_secrets(dotenv_path: str | Path | None = ".env") -> None:
    """Move the secret variables (`SECRET_VARIABLES`) out of the process environment into
    this process's memory, so no child process inherits them; `Settings.from_env` and
    `AgentConfig.from_env` find them there. Also takes what a parent `aios` process handed
    over (`secrets_handoff`) and the secrets of `.env`, under the environment's.

    Raises:
        SettingsError: when AIOS_SECRETS_FD names no readable descriptor.
    """
    if dotenv_path is not None and Path(dotenv_path).is_file():
        found = dotenv_values(dotenv_path)
        _held.update({n: v for n in SECRET_VARIABLES if (v := found.get(n) or "").strip()})
    _adopt_handed_over_secrets()
    for name in SECRET_VARIABLES:
        value = os.environ.pop(name, None)
        if value is not None and value.strip():
            _held[name] = value


def held_secrets() -> dict[str, str]:
    """The secret variables this process read (and took out of its environment)."""
    return dict(_held)


def secrets_handoff() -> tuple[dict[str, str], int | None]:
    """For starting a child `aios` process: the variable to add to its environment and an
    inheritable descriptor holding the secrets (pass it in `pass_fds`, close it after the
    spawn). The secrets never travel in an environment, which /proc shows."""
    if not _held:
        return {}, None
    fd = os.memfd_create("aios-secrets", os.MFD_CLOEXEC)
    os.write(fd, json.dumps(_held).encode())
    return {SECRETS_FD_VARIABLE: str(fd)}, fd


def _adopt_handed_over_secrets() -> None:
    raw = os.environ.pop(SECRETS_FD_VARIABLE, None)
    if raw is None:
        return
    try:
        fd = int(raw)
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        os.close(fd)
        handed = json.loads(data)
    except (ValueError, OSError) as exc:
        raise SettingsError(
            SECRETS_FD_VARIABLE, f"names no readable secrets descriptor ({exc}); unset it"
        ) from None
    _held.update({k: v for k, v in handed.items() if k in SECRET_VARIABLES and isinstance(v, str)})


def _parse(env: Mapping[str, str]) -> Settings:
    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    # Every check runs, so a newcomer fixes all of them after one start, not one per start.
    problems = _Problems()
    environment = (get("AIOS_ENV") or "development").lower()
    problems.catch(lambda: _check_choice("AIOS_ENV", environment, ENVIRONMENTS))

    app_id = problems.catch(lambda: _parse_int("APP_ID", get("APP_ID"), minimum=1))
    private_key = problems.catch(
        lambda: _read_private_key(get("PRIVATE_KEY"), get("PRIVATE_KEY_PATH"))
    )
    webhook_secret = get("WEBHOOK_SECRET")
    if not problems.about("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH"):
        if (app_id is None) != (private_key is None):
            missing = "PRIVATE_KEY or PRIVATE_KEY_PATH" if private_key is None else "APP_ID"
            problems.add(missing, "is required when the other App credential is set")
    # Production may start unregistered: a deployed server registers itself at /setup.
    if app_id is not None and webhook_secret is None:
        problems.add(
            "WEBHOOK_SECRET", "is required with App credentials: deliveries cannot be verified"
        )

    github_api_url = problems.catch(
        lambda: _parse_url("GITHUB_API_URL", get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL)
    )
    git_base_url = problems.catch(
        lambda: _parse_url(
            "GITHUB_GIT_URL",
            get("GITHUB_GIT_URL") or _git_url_for(github_api_url or DEFAULT_GITHUB_API_URL),
            # file:// lets a test (or an air-gapped mirror) stand bare repositories in for GitHub.
            schemes=("http", "https", "file"),
        )
    )
    redis_url = get("REDIS_URL")
    if redis_url is not None and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        problems.add(
            "REDIS_URL", f"must start with redis://, rediss:// or unix://, got {redis_url!r}"
        )

    log_level = (get("LOG_LEVEL") or "INFO").upper()
    problems.catch(lambda: _check_choice("LOG_LEVEL", log_level, LOG_LEVELS))
    log_format = (
        get("LOG_FORMAT") or ("json" if environment == "production" else "console")
    ).lower()
    problems.catch(lambda: _check_choice("LOG_FORMAT", log_format, LOG_FORMATS))

    port = problems.catch(lambda: _parse_int("PORT", get("PORT"), minimum=0, maximum=65535))
    max_body = problems.catch(
        lambda: _parse_int("AIOS_MAX_BODY_BYTES", get("AIOS_MAX_BODY_BYTES"), minimum=1024)
    )
    agent_timeout = problems.catch(
        lambda: _parse_int("AIOS_AGENT_TIMEOUT_S", get("AIOS_AGENT_TIMEOUT_S"), minimum=2)
    )
    pending_after = problems.catch(
        lambda: _parse_int(
            "AIOS_PENDING_EFFECTS_AFTER_S", get("AIOS_PENDING_EFFECTS_AFTER_S"), minimum=1
        )
    )
    write_spacing = problems.catch(
        lambda: _parse_seconds("AIOS_GITHUB_WRITE_SPACING_S", get("AIOS_GITHUB_WRITE_SPACING_S"))
    )
    public_url = get("AIOS_PUBLIC_URL")
    if public_url is not None:
        public_url = problems.catch(lambda: _parse_url("AIOS_PUBLIC_URL", public_url))
    webhook_proxy_url = get("WEBHOOK_PROXY_URL")
    if webhook_proxy_url is not None:
        webhook_proxy_url = problems.catch(
            lambda: _parse_url("WEBHOOK_PROXY_URL", webhook_proxy_url)
        )

    if problems.found:
        raise SettingsError.of(problems.found)
    assert github_api_url is not None and git_base_url is not None
    return Settings(
        app_id=app_id,
        private_key=private_key,
        webhook_secret=webhook_secret,
        github_client_id=get("GITHUB_CLIENT_ID"),
        github_client_secret=get("GITHUB_CLIENT_SECRET"),
        redis_url=redis_url,
        github_api_url=github_api_url,
        git_base_url=git_base_url,
        host=get("HOST") or "127.0.0.1",
        port=8080 if port is None else port,
        log_level=log_level,
        log_format=log_format,
        data_dir=Path(get("AIOS_DATA_DIR") or ".aios"),
        environment=environment,
        max_body_bytes=DEFAULT_MAX_BODY_BYTES if max_body is None else max_body,
        public_url=public_url,
        webhook_proxy_url=webhook_proxy_url,
        agent_timeout_s=3600 if agent_timeout is None else agent_timeout,
        pending_effects_after_s=60 if pending_after is None else pending_after,
        github_write_spacing_s=1.0 if write_spacing is None else write_spacing,
        metrics_token=get("AIOS_METRICS_TOKEN"),
    )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingsError(name, f"must be one of {', '.join(choices)}, got {value!r}")


def _parse_int(
    name: str, raw: str | None, *, minimum: int, maximum: int | None = None
) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise SettingsError(name, f"must be {bounds}, got {value}")
    return value


def _parse_seconds(name: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"must be a number of seconds, got {raw!r}") from None
    if not 0 <= value <= 60:
        raise SettingsError(name, f"must be between 0 and 60 seconds, got {raw}")
    return value


def _parse_url(name: str, raw: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "file"):
        raise SettingsError(name, f"must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _git_url_for(api_url: str) -> str:
    """github.com's API lives on its own host; a GHES API lives under /api/v3 of the web host."""
    parts = urlsplit(api_url)
    if parts.netloc == "api.github.com":
        return "https://github.com"
    return f"{parts.scheme}://{parts.netloc}"


_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+-----END [A-Z ]*PRIVATE KEY-----", re.S)


def _read_private_key(inline: str | None, path: str | None) -> str | None:
    if inline is not None:
        # .env files and PaaS dashboards often carry the PEM on one line with literal "\n".
        key = inline.replace("\\n", "\n")
        name = "PRIVATE_KEY"
    elif path is not None:
        try:
            key = Path(path).read_text()
        except OSError as exc:
            raise SettingsError(
                "PRIVATE_KEY_PATH", f"cannot read {path!r}: {exc.strerror}"
            ) from None
        name = "PRIVATE_KEY_PATH"
    else:
        return None
    if not _PEM.search(key):
        raise SettingsError(
            name, "is not a PEM private key (expected -----BEGIN ... PRIVATE KEY-----)"
        )
    return key
