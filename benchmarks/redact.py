"""Benchmark: redact 1 MB of text and scan a 1 MB outgoing patch with gitleaks' rules.

Run: `.venv/bin/python benchmarks/redact.py`. Prints the median and best of several runs for
each input, next to a baseline measured in the same run (lower-casing the text, which the
keyword pre-filter does once). Exits 1 if a target is missed. The inputs:

- code: this repository's own Python source, 1 MB of it (ordinary code, a few test secrets);
- diff: the synthetic 20,000-line diff of `benchmarks/diff_review.py`, cut to 1 MB;
- dense: prose stuffed with every rule's keywords, the worst case for the pre-filter (every
  rule runs), with a secret every 2 KB;
- crafted: a Kubernetes-secret lookalike repeated, as a `.yaml` file: Python's backtracking
  `re` spent about 5 s on it (the rule's nested lazy gaps), RE2 stays linear;
- push: the push guard's scan of a 1 MB `git log -p` of 300 files, per-file rule runs included.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from diff_review import synthetic_diff  # this folder is on sys.path when run as a script

from bot.github.push_guard import PushPolicy, PushRefused, check_push
from bot.redact import find_secrets, redact, warm
from bot.secret_rules import rule_set

TARGET_SECONDS = 1.0
SIZE = 1_000_000
ROOT = Path(__file__).resolve().parents[1]


def code_text() -> str:
    files = sorted((ROOT / "bot").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    text = "\n".join(path.read_text() for path in files)
    return (text * (SIZE // len(text) + 1))[:SIZE]


def dense_text(seed: int = 7) -> str:
    rng = random.Random(seed)
    keywords = sorted({k.decode() for rule in rule_set().rules for k in rule.keywords})
    out: list[str] = []
    size = 0
    while size < SIZE:
        line = " ".join(rng.choice(keywords) for _ in range(12))
        if rng.random() < 0.02:
            line += " ghp_" + "".join(rng.choice("abcdefABCDEF0123456789") for _ in range(36))
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)[:SIZE]


def patch_text() -> str:
    diff = synthetic_diff()[:SIZE]
    return "commit 0123\n\n" + diff


def measure(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    start = time.perf_counter()
    warm()
    print(f"compiling the rules (once per process): {time.perf_counter() - start:.2f} s")
    print(f"{len(rule_set().rules)} rules; inputs of {SIZE:,} characters\n")
    inputs = {
        "code": code_text(),
        "diff": synthetic_diff()[:SIZE],
        "dense": dense_text(),
        "crafted": ("data: kind: secret " * (SIZE // 19))[:SIZE],
    }
    missed = False
    print(f"{'input':<8} {'redact median':>14} {'best':>8} {'lower() baseline':>18}")
    for name, text in inputs.items():
        path = "deploy/secret.yaml" if name == "crafted" else None

        def run(text: str = text, path: str | None = path) -> object:
            return find_secrets(text, path=path) if path else redact(text)

        median, best = measure(run, args.repeat)
        baseline, _ = measure(text.lower, args.repeat)
        print(f"{name:<8} {median:>12.3f} s {best:>6.3f} s {baseline * 1000:>15.1f} ms")
        missed |= median > TARGET_SECONDS
    patch = patch_text()

    def scan() -> None:
        try:
            check_push("aios/1-x", patch=patch, messages="", paths=[], policy=PushPolicy())
        except PushRefused:
            pass

    median, best = measure(scan, args.repeat)
    print(f"{'push':<8} {median:>12.3f} s {best:>6.3f} s")
    missed |= median > TARGET_SECONDS
    print(f"\ntarget: every median under {TARGET_SECONDS:.1f} s: {'MISSED' if missed else 'met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
