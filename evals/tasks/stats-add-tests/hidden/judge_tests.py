# HIDDEN-ACCEPTANCE: copied in only when judging; never in the agents' workspace or prompts.
"""The judge of stats-add-tests, a mutation check: the project's own tests must pass on the
real stats.py, and each deliberately broken copy in mutants/ must make them fail.

Prints "FAIL: ..." lines (as unittest does) so the eval's reason names what went wrong.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MUTANTS = HERE / "mutants"
MIN_TESTS = 4
"""Fewer than one test per function cannot pin four functions down."""


def run_tests(tree: Path) -> tuple[bool, int, str]:
    """The project's tests in `tree`: (passed, tests run, output)."""
    done = subprocess.run(
        [sys.executable, "-m", "unittest"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
    )
    ran = re.search(r"^Ran (\d+) tests?", done.stderr, re.MULTILINE)
    return done.returncode == 0, int(ran.group(1)) if ran else 0, done.stderr


def what_is_broken(mutant: Path) -> str:
    """The mutant's own description, its second line: "# MUTANT: ..."."""
    line = mutant.read_text().splitlines()[1]
    return line.removeprefix("# MUTANT:").strip()


def main() -> int:
    passed, count, output = run_tests(HERE)
    if not passed:
        print(output[-3000:])
        print("FAIL: the project's tests do not pass on the real stats.py")
        return 1
    if count < MIN_TESTS:
        print(f"FAIL: only {count} test(s) ran; the issue asks for tests of four functions")
        return 1
    survivors = []
    for mutant in sorted(MUTANTS.glob("*.py")):
        with tempfile.TemporaryDirectory() as scratch:
            tree = Path(scratch) / "tree"
            shutil.copytree(HERE, tree, ignore=shutil.ignore_patterns("mutants", "__pycache__"))
            shutil.copyfile(mutant, tree / "stats.py")
            if run_tests(tree)[0]:
                survivors.append(mutant)
                print(f"FAIL: mutant {mutant.stem} survived: {what_is_broken(mutant)}")
    killed = len(list(MUTANTS.glob("*.py"))) - len(survivors)
    print(f"{count} tests; {killed} of {killed + len(survivors)} mutants caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
