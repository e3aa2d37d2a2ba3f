"""What a work item's environment will be: `.github/aios.yml`'s `environment` key by key, the
detected project for the keys left out, and the operator's egress rules over both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.agents.egress import EgressError, parse_allow_hosts
from bot.environment.detect import Detected, detect
from bot.settings import SettingsError
from bot.workitem.parts import EnvironmentSettings
from bot.workitem.plan import ProposedEnvironment

REGISTRIES = (
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    "proxy.golang.org",
    "sum.golang.org",
    "index.crates.io",
    "static.crates.io",
    "crates.io",
)
"""Where the common package managers download from: the egress a setup gets by default."""

ANY_HOST = "*"

T = TypeVar("T")


@dataclass(frozen=True)
class Egress:
    """The operator's egress rules: what setups reach by default (`AIOS_EGRESS_ALLOW`), and
    the most a repository may add (`AIOS_EGRESS_CEILING`; default: nothing beyond the
    default list, `*`: any host)."""

    default: tuple[str, ...] = REGISTRIES
    ceiling: tuple[str, ...] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Egress:
        default = _hosts("AIOS_EGRESS_ALLOW", env.get("AIOS_EGRESS_ALLOW"), REGISTRIES)
        raw_ceiling = (env.get("AIOS_EGRESS_CEILING") or "").strip()
        if raw_ceiling == ANY_HOST:
            return cls(default, (ANY_HOST,))
        return cls(default, _hosts("AIOS_EGRESS_CEILING", raw_ceiling, default))

    def within(self, wanted: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the hosts of `wanted` the operator allows, the ones left out)."""
        ceiling = self.ceiling if self.ceiling is not None else self.default
        if ANY_HOST in ceiling:
            return tuple(wanted), ()
        room = parse_allow_hosts(ceiling).pairs
        kept = tuple(h for h in wanted if parse_allow_hosts([h]).pairs <= room)
        return kept, tuple(h for h in wanted if h not in kept)


def _hosts(variable: str, raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return default
    hosts = tuple(h.strip() for h in raw.split(",") if h.strip())
    try:
        parse_allow_hosts(hosts)
    except EgressError as error:
        raise SettingsError(variable, str(error)) from None
    return hosts


@dataclass(frozen=True)
class EnvironmentPlan:
    """What the workspace gets before the agents, and what they run to verify."""

    setup: tuple[str, ...] = ()
    test: str | None = None
    setup_hosts: tuple[str, ...] = ()
    run_hosts: tuple[str, ...] = ()
    """Egress of the agents' own commands: the setup's with `network_during_run`, else none."""
    cache: tuple[str, ...] = ()
    lock_files: tuple[str, ...] = ()
    chosen: str = ""
    """One line for the progress comment: where each part came from."""
    left_out: tuple[str, ...] = ()
    """`allow_hosts` entries the operator's ceiling does not allow."""

    @property
    def empty(self) -> bool:
        return not self.setup and self.test is None


def resolve(
    settings: EnvironmentSettings,
    root: Path,
    egress: Egress,
    *,
    approved: ProposedEnvironment | None = None,
    approved_by: str | None = None,
) -> EnvironmentPlan:
    """The plan for the work tree at `root`, key by key: what the repository set, else what
    the CTO proposed in a plan a maintainer (`approved_by`) approved, else what is detected."""
    found = detect(root)
    proposed_setup = approved.setup if approved is not None and approved.setup else None
    proposed_test = approved.test if approved is not None else None
    setup = _first(settings.setup, proposed_setup, found.setup if found else ())
    test = _first(settings.test, proposed_test, found.test if found else None)
    cache = settings.cache if settings.cache is not None else (found.cache if found else ())
    wanted = settings.allow_hosts if settings.allow_hosts is not None else egress.default
    hosts, left_out = egress.within(wanted)
    lock_files = found.lock_files if found else ()
    chosen = _chosen(settings, found, setup, test)
    uses_proposal = (settings.setup is None and proposed_setup is not None) or (
        settings.test is None and proposed_test is not None
    )
    if uses_proposal:
        steps = ", ".join(f"`{command}`" for command in setup) or "nothing to set up"
        tests = f"`{test}`" if test else "none"
        chosen = f"proposed in the plan, approved by @{approved_by}: {steps}; tests: {tests}"
    return EnvironmentPlan(
        setup=tuple(setup),
        test=test,
        setup_hosts=hosts if setup else (),
        run_hosts=hosts if settings.network_during_run else (),
        cache=tuple(cache),
        lock_files=_existing(root, lock_files),
        chosen=chosen,
        left_out=left_out,
    )


def _first(*options: T) -> T:
    """The first option that is not None, else the last."""
    return next((option for option in options if option is not None), options[-1])


def _existing(root: Path, names: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for name in names if (root / name).is_file())


def _chosen(
    settings: EnvironmentSettings,
    found: Detected | None,
    setup: Sequence[str],
    test: str | None,
) -> str:
    configured = settings.setup is not None or settings.test is not None
    if found is not None and not configured:
        return f"detected {found.describe()}"
    if found is None and not configured:
        return (
            "nothing detected: no setup and no test command (`environment.setup` and "
            "`environment.test` in `.github/aios.yml` set them)"
        )
    steps = ", ".join(f"`{command}`" for command in setup) or "nothing to set up"
    tests = f"`{test}`" if test else "none found (say it in `environment.test`)"
    source = "`.github/aios.yml`"
    if found is not None and (settings.setup is None or settings.test is None):
        source += f" and the detected {found.language} project ({found.evidence})"
    return f"from {source}: {steps}; tests: {tests}"
