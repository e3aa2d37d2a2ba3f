"""Test verdicts read from the runners' own output: literal samples of each format, and real
runs of pytest, unittest, node's test runner and cargo test."""

# The runners print look-alike characters (U+203A, U+2139, U+00D7, U+276F): samples keep them.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.environment.detect import detect
from bot.environment.verdict import TestVerdict, new_failures, read_verdict


@dataclass(frozen=True)
class Sample:
    exit_code: int
    output: str
    counts: tuple[int | None, int | None, int | None]
    failing: tuple[str, ...]
    summary: str


PYTEST_FAIL = """\
tests/test_page.py .F.                                                   [100%]
=================================== FAILURES ===================================
_______________________________ test_pagination ________________________________
E       assert 1 == 2
=========================== short test summary info ============================
FAILED tests/test_page.py::test_pagination - assert 1 == 2
ERROR tests/test_db.py::test_connect - OSError: refused
1 failed, 41 passed, 2 skipped, 1 error in 0.12s
"""

UNITTEST_FAIL = """\
F.sE
======================================================================
ERROR: test_connect (tests.test_db.DbTest.test_connect)
----------------------------------------------------------------------
OSError: refused

======================================================================
FAIL: test_pagination (tests.test_page.PageTest)
----------------------------------------------------------------------
AssertionError: 1 != 2

----------------------------------------------------------------------
Ran 12 tests in 0.004s

FAILED (failures=1, errors=1, skipped=1)
"""

JEST_FAIL = """\
FAIL src/page.test.js
  ● pagination › returns the second page

    expect(received).toBe(expected) // Object.is equality

  ● Console

    console.log
      debugging

PASS src/cart.test.js

Test Suites: 1 failed, 3 passed, 4 total
Tests:       1 failed, 2 skipped, 41 passed, 44 total
Snapshots:   0 total
Time:        1.234 s
"""

VITEST_FAIL = """\
 ❯ src/page.test.ts (3 tests | 1 failed) 5ms
   × pagination > second page
⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯

 FAIL  src/page.test.ts > pagination > second page
AssertionError: expected 1 to be 2

 Test Files  1 failed | 3 passed (4)
      Tests  1 failed | 41 passed | 1 skipped (43)
   Start at  12:00:00
   Duration  1.20s
"""

NODE_TAP_FAIL = """\
TAP version 13
# Subtest: adds
ok 1 - adds
# Subtest: pagination
not ok 2 - pagination
  ---
  error: '1 == 2'
  ...
1..2
# tests 2
# pass 1
# fail 1
# skipped 0
# todo 0
"""

NODE_SPEC_FAIL = """\
✔ adds (0.5ms)
✖ pagination (1.4ms)
ℹ tests 3
ℹ pass 1
ℹ fail 1
ℹ skipped 1
ℹ todo 0

✖ failing tests:

✖ pagination (1.4ms)
  AssertionError [ERR_ASSERTION]: 1 == 2
"""

GO_FAIL = """\
--- FAIL: TestPagination (0.00s)
    page_test.go:12: got 1, want 2
--- FAIL: TestCart/empty (0.00s)
FAIL
FAIL\texample.com/shop/page\t0.004s
ok  \texample.com/shop/cart\t0.003s
?   \texample.com/shop/cmd\t[no test files]
FAIL
"""

GO_VERBOSE = """\
=== RUN   TestAdd
--- PASS: TestAdd (0.00s)
=== RUN   TestLater
--- SKIP: TestLater (0.00s)
=== RUN   TestPagination
--- FAIL: TestPagination (0.00s)
FAIL
FAIL\texample.com/shop\t0.002s
"""

CARGO_FAIL = """\
running 3 tests
test tests::adds ... ok
test tests::pagination ... FAILED
test tests::later ... ignored

failures:
    tests::pagination

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s

running 2 tests
test src/lib.rs - add (line 3) ... ok
test src/lib.rs - page (line 9) ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.20s
"""

SAMPLES = {
    "pytest fails, errors count as failures": Sample(
        1, PYTEST_FAIL, (41, 2, 2),
        ("tests/test_page.py::test_pagination", "tests/test_db.py::test_connect"),
        "tests: 41 passed, 2 failed, 2 skipped — test_pagination, test_connect",
    ),
    "pytest passes (full summary line)": Sample(
        0, "tests/test_x.py ....\n============ 12 passed, 1 warning in 0.05s ============\n",
        (12, 0, 0), (), "tests: 12 passed",
    ),
    "pytest collected nothing": Sample(
        5, "\nno tests ran in 0.01s\n", (0, 0, 0), (), "tests: 0 passed, but exit code 5"
    ),
    "unittest fails (both name styles)": Sample(
        1, UNITTEST_FAIL, (9, 2, 1),
        ("tests.test_db.DbTest.test_connect", "tests.test_page.PageTest.test_pagination"),
        "tests: 9 passed, 2 failed, 1 skipped — test_connect, test_pagination",
    ),
    "unittest passes": Sample(
        0, "....\n------\nRan 12 tests in 0.010s\n\nOK (skipped=2)\n", (10, 0, 2), (),
        "tests: 10 passed, 2 skipped",
    ),
    "jest fails": Sample(
        1, JEST_FAIL, (41, 1, 2), ("pagination › returns the second page",),
        "tests: 41 passed, 1 failed, 2 skipped — pagination › returns the second page",
    ),
    "jest passes": Sample(
        0, "Test Suites: 4 passed, 4 total\nTests:       42 passed, 42 total\n", (42, 0, 0), (),
        "tests: 42 passed",
    ),
    "vitest fails": Sample(
        1, VITEST_FAIL, (41, 1, 1), ("src/page.test.ts > pagination > second page",),
        "tests: 41 passed, 1 failed, 1 skipped — src/page.test.ts > pagination > second page",
    ),
    "vitest passes": Sample(
        0, " Test Files  4 passed (4)\n      Tests  42 passed (42)\n", (42, 0, 0), (),
        "tests: 42 passed",
    ),
    "node's runner, TAP": Sample(
        1, NODE_TAP_FAIL, (1, 1, 0), ("pagination",), "tests: 1 passed, 1 failed — pagination"
    ),
    "node's runner, spec": Sample(
        1, NODE_SPEC_FAIL, (1, 1, 1), ("pagination",),
        "tests: 1 passed, 1 failed, 1 skipped — pagination",
    ),
    "node's runner passes": Sample(
        0, "# tests 41\n# pass 41\n# fail 0\n", (41, 0, 0), (), "tests: 41 passed"
    ),
    "go test fails, packages counted": Sample(
        1, GO_FAIL, (1, 1, None), ("TestPagination", "TestCart/empty"),
        "tests: 1 passed, 1 failed — TestPagination, TestCart/empty",
    ),
    "go test -v, tests counted": Sample(
        1, GO_VERBOSE, (1, 1, 1), ("TestPagination",),
        "tests: 1 passed, 1 failed, 1 skipped — TestPagination",
    ),
    "go test passes": Sample(
        0, "ok  \texample.com/shop\t0.002s\nok  \texample.com/shop/cart\t(cached)\n",
        (2, 0, None), (), "tests: 2 passed",
    ),
    "cargo test fails, result lines summed": Sample(
        101, CARGO_FAIL, (3, 1, 1), ("tests::pagination",),
        "tests: 3 passed, 1 failed, 1 skipped — tests::pagination",
    ),
    "cargo test passes": Sample(
        0, "test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n",
        (7, 0, 0), (), "tests: 7 passed",
    ),
    "an unknown format: the exit code alone": Sample(
        2, "make: *** [Makefile:4: test] Error 2\n", (None, None, None), (),
        "tests: exit code 2 (no summary found)",
    ),
}  # fmt: skip


@pytest.mark.parametrize("sample", SAMPLES.values(), ids=SAMPLES.keys())
def test_read_verdict(sample: Sample) -> None:
    verdict = read_verdict("the tests", sample.exit_code, sample.output)
    assert (verdict.passed, verdict.failed, verdict.skipped) == sample.counts
    assert verdict.failing == sample.failing
    assert verdict.summary() == sample.summary
    assert verdict.ok is (sample.exit_code == 0)


def test_output_cut_in_the_middle_keeps_the_tail_summary() -> None:
    """The sandbox keeps head and tail; a line cut in half must not read as a summary."""
    head = "tests/test_a.py " + "." * 50 + "\n" + "E   assert x\n" * 20
    tail = (
        "ED tests/test_a.py::test_cut - assert\n"
        "FAILED tests/test_b.py::test_pagination - assert 1 == 2\n"
        "1 failed, 4000 passed in 12.00s\n"
    )
    verdict = read_verdict("pytest", 1, head[:200] + "\n[… 1,234,567 bytes omitted …]\n" + tail)
    assert verdict.summary() == "tests: 4000 passed, 1 failed — test_pagination"


def test_colour_codes_are_stripped() -> None:
    coloured = (
        "\x1b[31mFAILED\x1b[0m tests/test_a.py::\x1b[1mtest_pagination\x1b[0m - assert\r\n"
        "\x1b[31m\x1b[1m1 failed\x1b[0m, \x1b[32m41 passed\x1b[0m\x1b[31m in 0.12s\x1b[0m\r\n"
    )
    verdict = read_verdict("pytest", 1, coloured)
    assert verdict.summary() == "tests: 41 passed, 1 failed — test_pagination"
    assert verdict.failing == ("tests/test_a.py::test_pagination",)


def test_at_most_ten_failing_names_and_a_count_of_the_rest() -> None:
    output = "".join(f"FAILED t.py::test_{n} - x\n" for n in range(15)) + "15 failed in 1s\n"
    verdict = read_verdict("pytest", 1, output)
    assert len(verdict.failing) == 10
    assert verdict.summary() == ("tests: 0 passed, 15 failed — test_0, test_1, test_2 and 12 more")


def test_a_timeout_and_a_command_that_never_ran() -> None:
    timed = read_verdict("pytest", None, "....", timed_out=True, timeout_seconds=300)
    assert timed.summary() == "tests: timed out after 300 s" and not timed.ok
    passed_but_late = read_verdict("pytest", 0, "3 passed in 1s", timed_out=True)
    assert not passed_but_late.ok
    assert read_verdict("pytest", None, "").summary() == "tests: did not run"
    assert read_verdict("true", 0, "").ok


def test_new_failures_are_those_not_failing_on_the_base_commit() -> None:
    here = read_verdict(
        "pytest", 1, "FAILED t.py::test_a - x\nFAILED t.py::test_b - x\n2 failed in 1s"
    )
    base = read_verdict("pytest", 1, "FAILED t.py::test_a - x\n1 failed, 1 passed in 1s")
    clean = read_verdict("pytest", 0, "2 passed in 1s")
    assert new_failures(here, base) == ("t.py::test_b",)
    assert new_failures(here, clean) == ("t.py::test_a", "t.py::test_b")
    assert new_failures(here, None) == ("t.py::test_a", "t.py::test_b")
    assert new_failures(base, here) == ()


def test_a_verdict_survives_json() -> None:
    verdict = read_verdict("cargo test", 101, CARGO_FAIL, timed_out=True, timeout_seconds=60)
    assert TestVerdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict
    unknown = read_verdict("make test", 2, "boom")
    assert TestVerdict.from_dict(json.loads(json.dumps(unknown.to_dict()))) == unknown
    garbled = TestVerdict.from_dict({"command": "x", "exit_code": "0", "passed": True})
    assert (garbled.exit_code, garbled.passed, garbled.failing) == (None, None, ())


# Real runs: the runners' actual output, not what we remember of it.


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, **env},
    )  # fmt: skip


PYTHON_TESTS = """\
import unittest

def test_adds():
    assert 1 + 1 == 2

def test_pagination():
    assert [1, 2][1:] == [1]

class CartTest(unittest.TestCase):
    def test_empty(self):
        self.assertEqual([], [])

    def test_total(self):
        self.assertEqual(sum([1, 2]), 4)
"""


def python_project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_shop.py").write_text(PYTHON_TESTS)
    return root


def test_a_real_pytest_run(tmp_path: Path) -> None:
    root = python_project(tmp_path)
    (root / "pyproject.toml").write_text('[project]\nname="shop"\n[tool.pytest.ini_options]\n')
    found = detect(root)
    assert found is not None and found.test == ".venv/bin/python -m pytest -q"
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], root)
    verdict = read_verdict(found.test, done.returncode, done.stdout + done.stderr)
    assert (verdict.passed, verdict.failed, verdict.skipped) == (2, 2, 0), done.stdout
    assert verdict.failing == (
        "tests/test_shop.py::test_pagination",
        "tests/test_shop.py::CartTest::test_total",
    )


def test_a_real_unittest_run(tmp_path: Path) -> None:
    root = python_project(tmp_path)
    (root / "pyproject.toml").write_text('[project]\nname="shop"\n')
    found = detect(root)
    assert found is not None and found.test == ".venv/bin/python -m unittest discover -s tests"
    command = [sys.executable, *shlex.split(found.test)[1:]]
    done = run(command, root)
    verdict = read_verdict(found.test, done.returncode, done.stdout + done.stderr)
    assert (verdict.passed, verdict.failed, verdict.skipped) == (1, 1, 0), done.stderr
    assert verdict.failing == ("test_shop.CartTest.test_total",)
    assert not verdict.ok


def test_a_real_npm_test_run_with_node_runner(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"test": "node --test"}}))
    (tmp_path / "shop.test.js").write_text(
        textwrap.dedent("""\
        const test = require("node:test");
        const assert = require("node:assert");
        test("adds", () => assert.equal(1 + 1, 2));
        test("pagination", () => assert.deepEqual([1, 2].slice(1), [1]));
        test.skip("later", () => {});
        """)
    )
    found = detect(tmp_path)
    assert found is not None and found.test == "npm test"
    done = run(shlex.split(found.test), tmp_path, npm_config_cache=str(tmp_path / ".npm"))
    verdict = read_verdict(found.test, done.returncode, done.stdout + done.stderr)
    assert (verdict.passed, verdict.failed, verdict.skipped) == (1, 1, 1), done.stdout
    assert verdict.failing == ("pagination",)


def test_a_real_cargo_test_run(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "Cargo.toml").write_text(
        '[package]\nname = "shop"\nversion = "0.1.0"\nedition = "2021"\n'
    )
    (tmp_path / "src" / "lib.rs").write_text(
        textwrap.dedent("""\
        #[cfg(test)]
        mod tests {
            #[test] fn adds() { assert_eq!(1 + 1, 2); }
            #[test] fn pagination() { assert_eq!(&[1, 2][1..], &[1]); }
            #[test] #[ignore] fn later() {}
        }
        """)
    )
    found = detect(tmp_path)
    assert found is not None and found.test == "cargo test"
    # No dependencies, so nothing to fetch: --offline keeps the test off the network.
    done = run([*shlex.split(found.test), "--offline"], tmp_path)
    verdict = read_verdict(found.test, done.returncode, done.stdout + done.stderr)
    assert (verdict.passed, verdict.failed, verdict.skipped) == (1, 1, 1), done.stderr
    assert verdict.failing == ("tests::pagination",)
