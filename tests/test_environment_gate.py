"""A coder's `finish` passes the test gate: real test commands in the real sandbox."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.agents.sandbox import Sandbox
from bot.agents.tools import Toolbox, ToolError
from bot.environment.gate import TestGate
from bot.environment.verdict import TestVerdict, read_verdict

TEST = "python3 -m unittest -v"
PASSING = "    def test_ok(self):\n        self.assertTrue(True)\n"
FAILING = "    def test_pagination(self):\n        self.assertEqual(1, 2)\n"


def write_tests(tree: Path, *bodies: str) -> None:
    (tree / "test_it.py").write_text(
        "import unittest\n\n\nclass It(unittest.TestCase):\n" + "".join(bodies)
    )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    # Not under pytest's 0700 tmp tree: the sandbox's host uid must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="aios-gate-test-"))
    root.chmod(0o711)
    tree = root / "work"
    tree.mkdir()
    box = Sandbox(tree)
    yield box
    box.close()
    shutil.rmtree(root, ignore_errors=True)


async def no_base() -> TestVerdict | None:
    return None


async def test_passing_tests_let_the_task_finish_with_their_verdict(sandbox: Sandbox) -> None:
    write_tests(sandbox.workspace, PASSING)
    gate = TestGate(sandbox, TEST, baseline=no_base)
    assert await gate.check(None) is None
    assert gate.last is not None and gate.last.ok
    assert gate.last.line() == "tests: 1 passed"


async def test_new_failures_refuse_the_finish_twice_then_let_it_say_so(sandbox: Sandbox) -> None:
    write_tests(sandbox.workspace, PASSING, FAILING)
    toolbox = Toolbox(
        sandbox.workspace, sandbox=sandbox, finish_gate=TestGate(sandbox, TEST, baseline=no_base)
    )
    for _ in range(2):
        with pytest.raises(ToolError, match="1 failed — test_pagination") as refused:
            await toolbox.call("finish", {"summary": "done"})
        assert "tests_failing_because" in str(refused.value)
    outcome = await toolbox.call("finish", {"summary": "done"})
    assert outcome.finished
    gate = toolbox.finish_gate
    assert isinstance(gate, TestGate) and gate.last is not None
    assert gate.last.line() == (
        "tests: 1 passed, 1 failed — test_pagination "
        "(finished with failing tests after being told twice)"
    )


async def test_a_stated_reason_lets_failing_tests_through_and_is_shown(sandbox: Sandbox) -> None:
    write_tests(sandbox.workspace, FAILING)
    gate = TestGate(sandbox, TEST, baseline=no_base)
    assert await gate.check("the pagination API is down in this sandbox") is None
    assert gate.last is not None and not gate.last.ok
    assert gate.last.line().endswith("(the agent says: the pagination API is down in this sandbox)")


async def test_a_failure_already_on_the_base_commit_is_not_the_agents(sandbox: Sandbox) -> None:
    write_tests(sandbox.workspace, PASSING, FAILING)
    base_output = (
        "test_pagination (test_it.It.test_pagination) ... FAIL\n\n" + "=" * 70 + "\n"
        "FAIL: test_pagination (test_it.It.test_pagination)\n" + "-" * 70 + "\n"
        "AssertionError: 1 != 2\n\n" + "-" * 70 + "\nRan 1 test in 0.001s\n\nFAILED (failures=1)\n"
    )
    base = read_verdict(TEST, 1, base_output)
    asked: list[bool] = []

    async def baseline() -> TestVerdict | None:
        asked.append(True)
        return base

    gate = TestGate(sandbox, TEST, baseline=baseline)
    assert await gate.check(None) is None
    assert asked == [True]
    assert gate.last is not None
    assert gate.last.line().endswith("(failing the same way on the base commit)")

    # A failure the base commit did not have is the agent's to fix.
    write_tests(sandbox.workspace, FAILING, "    def test_new(self):\n        self.fail()\n")
    refusal = await gate.check(None)
    assert refusal is not None and "test_new" in refusal
