"""Benchmark: parse, chunk and place review comments on a 20,000-line, 300-file diff.

Run: `.venv/bin/python benchmarks/diff_review.py`. Prints wall times (median and best of
several runs), the peak of Python allocations (tracemalloc, in a separate run because tracing
slows everything down) and the process's max RSS, next to baselines measured in the same run:
splitting the text into lines, and unidiff's parse alone. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable

import unidiff

from bot.github.diff import ParsedDiff, ProposedComment
from bot.review.chunks import chunk_diff

TARGET_SECONDS = 1.0
TARGET_MB = 200.0
FILES = 300
LINES = 20_000
COMMENTS = 1_000
SEED = 20_240_601
WORDS = "self value result config items count index error path token review agent".split()


def _code_line(rng: random.Random) -> str:
    indent = "    " * rng.randint(0, 3)
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9)))
    return f"{indent}{words} = {rng.randint(0, 10_000)}"


def _hunks(rng: random.Random, budget: int) -> list[str]:
    """Hunks of a modified file, about `budget` diff lines in all."""
    out: list[str] = []
    old = new = 1
    while len(out) < budget - 4:
        gap = rng.randint(5, 40)
        old, new = old + gap, new + gap
        body = [" " + _code_line(rng) for _ in range(3)]
        for _ in range(rng.randint(1, 12)):
            body.append(rng.choice("+- ") + _code_line(rng))
        body += [" " + _code_line(rng) for _ in range(3)]
        old_count = sum(1 for line in body if line[0] in "- ")
        new_count = sum(1 for line in body if line[0] in "+ ")
        out.append(f"@@ -{old},{old_count} +{new},{new_count} @@ def f{rng.randint(0, 99)}():")
        out += body
        old, new = old + old_count, new + new_count
    return out


def synthetic_diff(seed: int = SEED, files: int = FILES, lines: int = LINES) -> str:
    """A deterministic unified diff in `git diff` format with the given size."""
    rng = random.Random(seed)
    out: list[str] = []
    for number in range(files):
        budget = (lines - len(out)) // (files - number)
        folder = rng.choice(["src", "src/api", "web/src", "lib", "tests", "vendor/pkg"])
        ext = rng.choice([".py", ".ts", ".go", ".md"])
        path = f"{folder}/file_{number:03d}{ext}"
        roll = rng.random()
        if number % 50 == 7:
            path = f"deps/lock_{number}.lock"
        if roll < 0.1 or number == files - 1:  # added file; the last one tops up the size
            count = max(budget - 6, 1)
            out += [
                f"diff --git a/{path} b/{path}",
                "new file mode 100644",
                f"index 0000000..{rng.getrandbits(28):07x}",
                "--- /dev/null",
                f"+++ b/{path}",
                f"@@ -0,0 +1,{count} @@",
            ]
            out += ["+" + _code_line(rng) for _ in range(count)]
        elif roll < 0.13 and number % 50 != 7:  # binary
            out += [
                f"diff --git a/{path}.png b/{path}.png",
                f"index {rng.getrandbits(28):07x}..{rng.getrandbits(28):07x} 100644",
                f"Binary files a/{path}.png and b/{path}.png differ",
            ]
        else:  # modified or renamed
            header = [f"diff --git a/{path} b/{path}"]
            if roll > 0.95:
                old_path = path.replace("file_", "old_")
                header = [
                    f"diff --git a/{old_path} b/{path}",
                    "similarity index 91%",
                    f"rename from {old_path}",
                    f"rename to {path}",
                ]
                source = old_path
            else:
                source = path
            header += [
                f"index {rng.getrandbits(28):07x}..{rng.getrandbits(28):07x} 100644",
                f"--- a/{source}",
                f"+++ b/{path}",
            ]
            out += header + _hunks(rng, max(budget - len(header), 12))
    return "\n".join(out) + "\n"


def make_comments(parsed: ParsedDiff, count: int, seed: int = SEED) -> list[ProposedComment]:
    """Comments on random lines: about 70 % inside the diff, some ranges, the rest outside."""
    rng = random.Random(seed)
    targets = []
    for file in parsed.files:
        for hunk in file.hunks:
            new = hunk.target_start
            for text in hunk.lines:
                if text[:1] in "+ ":
                    targets.append((file.path, new))
                    new += 1
    comments = []
    for index in range(count):
        path, line = rng.choice(targets)
        roll = rng.random()
        if roll < 0.6:
            comments.append(ProposedComment(path, line, f"comment {index}"))
        elif roll < 0.7:
            comments.append(ProposedComment(path, line, f"range {index}", start_line=line - 2))
        else:
            comments.append(ProposedComment(path, line + 5_000, f"outside {index}"))
    return comments


def pipeline(text: str, comments: list[ProposedComment]) -> tuple[int, int, int, int]:
    parsed = ParsedDiff.from_text(text)
    plan = chunk_diff(parsed, 8_000)
    placement = parsed.place_comments(comments)
    return len(plan.chunks), len(plan.skipped), len(placement.inline), len(placement.outside)


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        runs.append(time.perf_counter() - start)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    args = parser.parse_args(argv)

    text = synthetic_diff()
    parsed = ParsedDiff.from_text(text)
    comments = make_comments(parsed, COMMENTS)
    total_lines = text.count("\n")
    chunks, skipped, inline, outside = pipeline(text, comments)
    print(
        f"input: {total_lines:,} diff lines, {len(parsed.files)} files, {len(text) / 1e6:.2f} MB; "
        f"{len(comments):,} comments"
    )
    print(
        f"result: {chunks} chunks of <= 8,000 tokens, {skipped} files skipped, "
        f"{inline} comments inline, {outside} outside the diff"
    )

    split = timed(text.splitlines, args.repeat)
    unidiff_parse = timed(lambda: unidiff.PatchSet(text), args.repeat)
    ours = timed(lambda: pipeline(text, comments), args.repeat)
    for name, runs in [
        ("baseline: str.splitlines", split),
        ("baseline: unidiff.PatchSet parse", unidiff_parse),
        ("parse + chunk + place 1,000 comments", ours),
    ]:
        print(
            f"{name:<40} median {statistics.median(runs) * 1000:8.1f} ms   "
            f"best {min(runs) * 1000:8.1f} ms"
        )
    ratio = statistics.median(ours) / statistics.median(unidiff_parse)
    print(f"pipeline / unidiff parse alone: {ratio:.2f}x")

    tracemalloc.start()
    pipeline(text, comments)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_mb = peak / 1e6
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak Python allocations (tracemalloc): {peak_mb:.1f} MB")
    print(f"max RSS of this process (getrusage): {max_rss_mb:.1f} MB")

    median = statistics.median(ours)
    checks = [
        (f"wall time {median:.3f} s < {TARGET_SECONDS} s", median < TARGET_SECONDS),
        (f"tracemalloc peak {peak_mb:.1f} MB < {TARGET_MB} MB", peak_mb < TARGET_MB),
        (f"max RSS {max_rss_mb:.1f} MB < {TARGET_MB} MB", max_rss_mb < TARGET_MB),
    ]
    for label, ok in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
