"""A coder's `finish` needs the tests' verdict: AIOS runs the test command itself and lets the
task finish when the tests pass, fail only as they already did on the base commit, or fail
for a reason the agent states. Otherwise `finish` is refused with the failures, so the agent
goes on fixing; after `MAX_REFUSALS` it may finish, and everyone sees the verdict."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.agents.sandbox import Sandbox
from bot.environment.verdict import TestVerdict, new_failures, read_verdict

MAX_REFUSALS = 2
"""Refused finishes before the agent may finish with failing tests (said as such)."""
REASON_CHARS = 300

Baseline = Callable[[], Awaitable[TestVerdict | None]]
"""The verdict of the test command on the base commit (run once, cached), or None."""


@dataclass(frozen=True)
class GateVerdict:
    """The last verdict, and why a task with failing tests was let finish."""

    verdict: TestVerdict
    allowed_because: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    def line(self) -> str:
        """The verdict as the handoff note, the progress comment and the PR body say it."""
        text = self.verdict.summary()
        return f"{text} ({self.allowed_because})" if self.allowed_because else text


class TestGate:
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, sandbox: Sandbox, command: str, *, baseline: Baseline) -> None:
        self.sandbox = sandbox
        self.command = command
        self._baseline = baseline
        self.refusals = 0
        self.last: GateVerdict | None = None

    async def run(self) -> TestVerdict:
        """Run the test command now (with the agents' egress) and read its verdict."""
        result = await self.sandbox.run(self.command)
        return read_verdict(
            self.command,
            result.exit_code,
            result.output,
            timed_out=result.timed_out,
            timeout_seconds=int(result.timeout_s),
        )

    async def check(self, reason: str | None) -> str | None:
        """None when the task may finish (the verdict kept in `last`); else the refusal."""
        verdict = await self.run()
        if verdict.ok:
            self.last = GateVerdict(verdict)
            return None
        base = await self._baseline()
        if _as_on_base(verdict, base):
            self.last = GateVerdict(verdict, "failing the same way on the base commit")
            return None
        stated = (reason or "").strip()[:REASON_CHARS]
        if stated:
            self.last = GateVerdict(verdict, f"the agent says: {stated}")
            return None
        if self.refusals >= MAX_REFUSALS:
            self.last = GateVerdict(verdict, "finished with failing tests after being told twice")
            return None
        self.refusals += 1
        self.last = GateVerdict(verdict)
        return (
            f"Not finished: `{self.command}` fails ({verdict.summary()}). Fix the failures, "
            "run the tests again, then finish. If they cannot pass for a reason outside this "
            "task, call finish again with `tests_failing_because` saying why."
        )


def _as_on_base(verdict: TestVerdict, base: TestVerdict | None) -> bool:
    """Every failure was there before the agents: the same names, or (no names found) the
    base failing too."""
    if base is None or base.ok:
        return False
    if verdict.failing:
        return not new_failures(verdict, base)
    return not base.failing and verdict.failed == base.failed
