"""One work tree's environment for the length of an agent run: set up (or restored from the
cache) in a sandbox with the setup's egress and time limit, then the sandbox the agent's own
commands run in, sharing its home, and the test gate a coder's `finish` passes.

Used by the worker's jobs (`bot.jobs.environment`, which records it on the work item) and by
`aios agent run --repo` (which prints it), so both honour `.github/aios.yml` the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.agents.config import AgentConfig
from bot.agents.sandbox import Sandbox
from bot.environment.cache import SetupCache
from bot.environment.gate import Baseline, GateVerdict, TestGate
from bot.environment.plan import EnvironmentPlan
from bot.environment.setup import SetupOutcome, run_setup

SETUP_TIMEOUT_S = 1200.0
"""A setup command's time limit: installing a project's dependencies takes minutes."""


@dataclass
class Session:
    plan: EnvironmentPlan
    setup: SetupOutcome
    sandbox: Sandbox
    """Where the agent's commands run: the set-up work tree, the plan's `run_hosts`."""
    gate: TestGate | None = None
    blocked_in_setup: tuple[str, ...] = field(default=())

    @property
    def blocked(self) -> tuple[str, ...]:
        """`host:port` the egress proxy refused, in setup or since (each once)."""
        return tuple(dict.fromkeys((*self.blocked_in_setup, *self.sandbox.egress_refused)))

    async def verdict(self) -> GateVerdict | None:
        """The last test verdict; run now if the agent finished without one (a run resumed
        past its `finish`)."""
        if self.gate is None:
            return None
        if self.gate.last is None:
            self.gate.last = GateVerdict(await self.gate.run())
        return self.gate.last


@asynccontextmanager
async def environment_session(
    plan: EnvironmentPlan,
    work_tree: Path,
    *,
    git_dir: Path | None,
    home: Path,
    config: AgentConfig,
    repo: str,
    baseline: Baseline | None = None,
    gate: bool = False,
) -> AsyncIterator[Session]:
    """Set `work_tree` up for `plan` and yield its session (check `session.setup.ok`: a
    failed setup is yielded too, for the caller to report). Raises SandboxError when commands
    cannot be confined here. With `gate` and a test command, `finish` needs the verdict."""
    setup_box = Sandbox(
        work_tree,
        git_dir=git_dir,
        limits=replace(config.sandbox, timeout_s=max(config.sandbox.timeout_s, SETUP_TIMEOUT_S)),
        env_allow=config.sandbox_env_allow,
        home=home,
        mode=config.sandbox_mode,
    )
    try:
        cache = SetupCache(config.disk) if config.disk is not None else None
        outcome = await run_setup(setup_box, plan, repo=repo, cache=cache)
    finally:
        setup_box.close()
    sandbox = Sandbox(
        work_tree,
        git_dir=git_dir,
        limits=config.sandbox,
        env_allow=config.sandbox_env_allow,
        home=home,
        allow_hosts=plan.run_hosts,
        mode=config.sandbox_mode,
        # The setup's self-tested isolation (and, as root, its host uid, which owns what the
        # setup wrote): no second bwrap self-test per job.
        isolation=setup_box.isolation,
    )
    test_gate = None
    if gate and plan.test and outcome.ok:
        test_gate = TestGate(sandbox, plan.test, baseline=baseline or _no_baseline)
    try:
        yield Session(plan, outcome, sandbox, test_gate, tuple(setup_box.egress_refused))
    finally:
        sandbox.close()


async def _no_baseline() -> None:
    return None
