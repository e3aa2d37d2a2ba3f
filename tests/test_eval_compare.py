"""`aios eval compare` on seeded result files, and the report's per-task spread for `--repeat`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.evals.result import TaskResult, Tokens, as_json, as_table


def record(
    name: str, resolved: bool, cost: float, calls: int, run: int = 1, **extra: Any
) -> TaskResult:
    return TaskResult(
        name,
        run,
        resolved=resolved,
        reason="" if resolved else extra.pop("reason", "merged, but the hidden tests fail: FAIL"),
        model_calls=calls,
        cost_usd=cost,
        tokens=Tokens(
            input=1000 * calls, cached=500 * calls, output=100 * calls, total=1600 * calls
        ),
        wall_s=extra.pop("wall_s", 10.0),
        human_interventions=extra.pop("human", 0),
    )


def seed(path: Path, results: list[TaskResult], model: str, repeat: int = 1) -> Path:
    path.write_text(as_json(results, model, repeat))
    return path


def compare(tmp_path: Path, a: Path, b: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "eval", "compare", str(a), str(b)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def row(output: str, task: str) -> list[str]:
    lines = [line for line in output.splitlines() if line.startswith(f"{task} ")]
    assert len(lines) == 1, output
    return lines[0].split()


def test_compare_shows_each_task_and_the_overall_change_with_the_cost_difference(
    tmp_path: Path,
) -> None:
    a = seed(
        tmp_path / "a.json",
        [
            record("slug", True, 0.10, 6),
            record("greet", False, 0.20, 8, human=1),
            record("gone", True, 0.05, 3),
        ],
        "claude-sonnet-4-5",
    )
    b = seed(
        tmp_path / "b.json",
        [
            record("slug", False, 0.12, 7, reason="failed in implementing: out of budget"),
            record("greet", True, 0.15, 6, human=1),
            record("new", True, 0.30, 9),
        ],
        "claude-haiku-4-5",
    )
    done = compare(tmp_path, a, b)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"A: {a} (claude-sonnet-4-5)" in out and f"B: {b} (claude-haiku-4-5)" in out
    assert row(out, "slug") == [
        "slug",
        "yes",
        "NO",
        "$0.1000",
        "$0.1200",
        "+$0.0200",
        "6→7",
        "WORSE",
    ]
    assert row(out, "greet") == [
        "greet",
        "NO",
        "yes",
        "$0.2000",
        "$0.1500",
        "-$0.0500",
        "8→6",
        "better",
    ]
    assert row(out, "gone") == ["gone", "yes", "-", "only", "in", "A"]
    assert row(out, "new") == ["new", "-", "yes", "only", "in", "B"]
    assert "resolved     67% → 67% (+0 points)" in out
    assert "cost         $0.3500 → $0.5700 (+$0.2200, +63%)" in out
    assert "model calls  17 → 22 (+5)" in out
    assert "human        1 → 1 (+0)" in out
    # Why the task that got worse is unresolved now.
    assert "  slug in B: failed in implementing: out of budget" in out


def test_compare_reads_repeated_runs_as_a_rate(tmp_path: Path) -> None:
    a = seed(tmp_path / "a.json", [record("slug", True, 0.1, 6)], "m")
    b = seed(
        tmp_path / "b.json",
        [record("slug", True, 0.1, 6, run=1), record("slug", False, 0.3, 10, run=2)],
        "m",
        repeat=2,
    )
    done = compare(tmp_path, a, b)
    assert row(done.stdout, "slug") == [
        "slug",
        "yes",
        "1/2",
        "$0.1000",
        "$0.2000",
        "+$0.1000",
        "6→8",
        "WORSE",
    ]


def test_compare_refuses_what_is_not_a_result_file(tmp_path: Path) -> None:
    good = seed(tmp_path / "a.json", [record("slug", True, 0.1, 6)], "m")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"tasks": []}))
    for other, says in (
        ("bad.json", "bad.json: not JSON"),
        ("other.json", "other.json: not an `aios eval --out` file (no summary and tasks)"),
        ("missing.json", "missing.json: cannot be read (No such file or directory)"),
    ):
        done = compare(tmp_path, good, tmp_path / other)
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert done.stdout == ""


def test_repeated_runs_report_each_task_s_spread_and_the_rate_per_repeat() -> None:
    results = [
        record("slug", True, 0.10, 6, run=1, wall_s=10.0),
        record("greet", True, 0.20, 6, run=1),
        record("slug", False, 0.30, 9, run=2, wall_s=14.0),
        record("greet", True, 0.20, 6, run=2),
    ]
    report = json.loads(as_json(results, "m", repeat=2))
    assert report["repeat"] == 2
    assert report["summary"]["tasks"] == 2 and report["summary"]["runs"] == 4
    assert report["summary"]["resolved_rate"] == 0.75
    assert report["summary"]["resolved_rate_spread"] == {
        "min": 0.5,
        "mean": 0.75,
        "max": 1.0,
        "stdev": 0.25,
    }
    slug = report["by_task"][0]
    assert (slug["name"], slug["runs"], slug["resolved"], slug["resolved_rate"]) == (
        "slug",
        2,
        1,
        0.5,
    )
    assert slug["cost_usd"] == {"min": 0.1, "mean": 0.2, "max": 0.3, "stdev": 0.1}
    assert (slug["wall_s"]["min"], slug["wall_s"]["max"]) == (10.0, 14.0)
    assert [t["run"] for t in report["tasks"]] == [1, 1, 2, 2]
    table = as_table(results, repeat=2)
    assert "resolved rate per repeat: 50% to 100% (mean 75%, stdev 25%)" in table
    assert "  slug: resolved 1/2, cost $0.1000 to $0.3000, wall 10.0 to 14.0s" in table
    assert "  slug #2: merged, but the hidden tests fail: FAIL" in table


def test_the_summary_splits_tokens_by_kind() -> None:
    report = json.loads(as_json([record("a", True, 0.1, 2), record("b", True, 0.1, 3)], "m"))
    assert report["summary"]["tokens"] == {
        "input": 5000,
        "cached": 2500,
        "output": 500,
        "total": 8000,
    }
    assert "resolved_rate_spread" not in report["summary"]
    assert "tokens 5.0k in + 2.5k cached + 500 out" in as_table(
        [record("a", True, 0.1, 2), record("b", True, 0.1, 3)]
    )
