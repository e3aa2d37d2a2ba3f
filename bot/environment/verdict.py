"""A test run's verdict, read from the summary lines of the common runners' output."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_FAILING = 10
"""Failing test names kept: enough to name the culprits, not a copy of the log."""

SHOWN_FAILING = 3
"""Failing names in the one-line summary; the rest are counted."""

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


@dataclass(frozen=True)
class TestVerdict:
    """What a test command said: exit code, counts where a summary was found, failing names."""

    __test__ = False  # not a pytest test class, despite the name

    command: str
    exit_code: int | None
    passed: int | None
    failed: int | None
    skipped: int | None
    failing: tuple[str, ...]
    timed_out: bool = False
    timeout_seconds: int | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def summary(self) -> str:
        """One line: "tests: 41 passed, 1 failed — test_pagination"."""
        if self.timed_out:
            after = f" after {self.timeout_seconds} s" if self.timeout_seconds is not None else ""
            return f"tests: timed out{after}"
        if self.exit_code is None:
            return "tests: did not run"
        if self.passed is None and self.failed is None:
            return f"tests: exit code {self.exit_code} (no summary found)"
        counts = [f"{self.passed or 0} passed"]
        counts += [f"{self.failed} failed"] if self.failed else []
        counts += [f"{self.skipped} skipped"] if self.skipped else []
        text = "tests: " + ", ".join(counts)
        if not self.failed and self.exit_code != 0:
            text += f", but exit code {self.exit_code}"
        if self.failing:
            names = [_short(name) for name in self.failing[:SHOWN_FAILING]]
            more = (self.failed or len(self.failing)) - len(names)
            text += " — " + ", ".join(names) + (f" and {more} more" if more > 0 else "")
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "failing": list(self.failing),
            "timed_out": self.timed_out,
            "timeout_seconds": self.timeout_seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TestVerdict:
        """The inverse of `to_dict`; a missing or mistyped field reads as unknown."""

        def number(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        failing = data.get("failing")
        names = tuple(str(name) for name in failing) if isinstance(failing, list) else ()
        return cls(
            command=str(data.get("command", "")),
            exit_code=number("exit_code"),
            passed=number("passed"),
            failed=number("failed"),
            skipped=number("skipped"),
            failing=names[:MAX_FAILING],
            timed_out=data.get("timed_out") is True,
            timeout_seconds=number("timeout_seconds"),
        )


def _short(name: str) -> str:
    """tests/test_x.py::test_y → test_y; pkg.mod.Class.test_y → test_y; Go and cargo kept."""
    if "::" in name and name.split("::")[0].endswith(".py"):
        return name.rsplit("::", 1)[1]
    if "::" not in name and "." in name and " " not in name:
        return name.rsplit(".", 1)[1]
    return name


JEST_NOT_TESTS = frozenset({"Test suite failed to run", "Console"})
"""Headings jest marks with ● that are not tests."""

Counts = tuple[int | None, int | None, int | None, list[str]]
"""(passed, failed, skipped, failing names) from one runner's summary."""


def _pytest(text: str) -> Counts | None:
    summary = re.compile(
        r"^=*\s*((?:\d+ \w+|no tests ran)(?:, \d+ \w+)*) in [\d.]+\s?s\b.*?=*\s*$", re.MULTILINE
    )
    found = summary.findall(text)
    if not found:
        return None
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", found[-1])}
    failed = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
    names = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.MULTILINE)
    return counts.get("passed", 0), failed, counts.get("skipped", 0), names


def _unittest(text: str) -> Counts | None:
    ran = re.findall(r"^Ran (\d+) tests? in ", text, re.MULTILINE)
    result = re.findall(r"^(OK|FAILED)(?: \(([^)]*)\))?\s*$", text, re.MULTILINE)
    if not ran or not result:
        return None
    counts = {key.strip(): int(n) for key, n in re.findall(r"([a-z ]+)=(\d+)", result[-1][1])}
    failed = counts.get("failures", 0) + counts.get("errors", 0)
    failed += counts.get("unexpected successes", 0)
    skipped = counts.get("skipped", 0)
    passed = int(ran[-1]) - failed - skipped - counts.get("expected failures", 0)
    names = []
    for test, where in re.findall(r"^(?:FAIL|ERROR): (\S+) \(([^)]*)\)", text, re.MULTILINE):
        # Python 3.11+ prints the full id in the parentheses; older ones print only the class.
        names.append(where if where.endswith(f".{test}") else f"{where}.{test}")
    return max(passed, 0), failed, skipped, names


def _jest(text: str) -> Counts | None:
    jest = re.findall(r"^Tests:[ \t]+(.*\d+ total)[ \t]*$", text, re.MULTILINE)
    vitest = re.findall(
        r"^[ \t]*Tests[ \t]+(\d+ \w+(?: \| \d+ \w+)*) \(\d+\)[ \t]*$", text, re.MULTILINE
    )
    if not jest and not vitest:
        return None
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", (jest or vitest)[-1])}
    names = re.findall(
        r"^\s*● (.+?)\s*$", text, re.MULTILINE
    )  # jest: "● Suite > test" (with a U+203A)
    names += re.findall(r"^\s*FAIL\s+(\S.* > .+?)\s*$", text, re.MULTILINE)  # vitest
    names = [name for name in names if name not in JEST_NOT_TESTS]
    return counts.get("passed", 0), counts.get("failed", 0), counts.get("skipped", 0), names


def _node_test(text: str) -> Counts | None:
    def count(word: str) -> int | None:
        found = re.findall(r"^(?:#|\u2139) " + word + r" (\d+)[ \t]*$", text, re.MULTILINE)
        return int(found[-1]) if found else None

    passed, failed = count("pass"), count("fail")
    if passed is None or failed is None:
        return None
    names = re.findall(r"^\s*not ok \d+ - (.+?)\s*$", text, re.MULTILINE)  # TAP
    names += re.findall(r"^\s*✖ (.+?)(?: \([\d.]+m?s\))?\s*$", text, re.MULTILINE)  # spec
    names = [name for name in names if name != "failing tests:"]
    return passed, failed, (count("skipped") or 0) + (count("todo") or 0), names


def _go(text: str) -> Counts | None:
    outcomes = re.findall(r"^\s*--- (PASS|FAIL|SKIP): (\S+)", text, re.MULTILINE)
    packages = re.findall(r"^(ok|FAIL)[ \t]+(\S+)", text, re.MULTILINE)
    if not outcomes and not packages:
        return None
    names = [name for outcome, name in outcomes if outcome == "FAIL"]
    if any(outcome == "PASS" for outcome, _ in outcomes):  # -v: every test has a line
        tally = [outcome for outcome, _ in outcomes]
        return tally.count("PASS"), tally.count("FAIL"), tally.count("SKIP"), names
    tally = [outcome for outcome, _ in packages]
    return tally.count("ok"), max(tally.count("FAIL"), 1 if names else 0), None, names


def _cargo(text: str) -> Counts | None:
    results = re.findall(
        r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", text, re.MULTILINE
    )
    if not results:
        return None
    passed, failed, ignored = (sum(int(row[i]) for row in results) for i in range(3))
    names = re.findall(r"^test (\S+) \.\.\. FAILED\s*$", text, re.MULTILINE)
    return passed, failed, ignored, names


PARSERS: tuple[Callable[[str], Counts | None], ...] = (
    _pytest,
    _unittest,
    _jest,
    _node_test,
    _cargo,
    _go,
)
"""Tried in this order; the first that finds its summary line reads the output."""


def read_verdict(
    command: str,
    exit_code: int | None,
    output: str,
    *,
    timed_out: bool = False,
    timeout_seconds: int | None = None,
) -> TestVerdict:
    """The verdict of a test command from its exit code and (possibly head-and-tail trimmed,
    coloured) output. An unknown format gives no counts: the exit code alone decides."""
    text = _ANSI.sub("", output).replace("\r\n", "\n")
    for parser in PARSERS:
        found = parser(text)
        if found is not None:
            passed, failed, skipped, names = found
            failing = tuple(dict.fromkeys(name[:200] for name in names))[:MAX_FAILING]
            return TestVerdict(
                command, exit_code, passed, failed, skipped, failing, timed_out, timeout_seconds
            )
    return TestVerdict(command, exit_code, None, None, None, (), timed_out, timeout_seconds)


def new_failures(verdict: TestVerdict, base: TestVerdict | None) -> tuple[str, ...]:
    """Failing names not failing on the base commit; all of them when there is no base run.
    Both lists are capped at MAX_FAILING, so on a base with more failures a name can look new:
    the error is on the side of asking the agent why."""
    if base is None:
        return verdict.failing
    before = set(base.failing)
    return tuple(name for name in verdict.failing if name not in before)
