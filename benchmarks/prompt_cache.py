"""Prompt-cache benchmark: a scripted 20-turn agent session through the real loop and provider.

For each turn after the first it prints the share of the request's tokens that repeat the
previous request's prefix (byte-identical blocks, what the provider can serve from cache),
the share the scripted Messages API actually reported as cache reads, and the input cost
against a no-cache baseline (every prompt token at the base input price).

Targets: >= 90 % prefix reuse on average over turns 2-20, and >= 3x lower input cost.
Exits 1 when a target is missed.

    .venv/bin/python benchmarks/prompt_cache.py
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.agents.config import AgentConfig
from bot.agents.ledger import MemoryLedger, UsageScope
from bot.agents.loop import run_agent
from bot.agents.pricing import PriceTable
from bot.agents.runtime import AgentRuntime
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import Turn, call, finish

MODEL = "claude-sonnet-5-5"
TURNS = 20
TARGET_REUSE = 0.90
TARGET_SAVING = 3.0
CHARS_PER_TOKEN = 4


def make_repo(root: Path) -> None:
    """A small but realistic service: instruction files, a package, tests."""
    (root / "src" / "shop").mkdir(parents=True)
    (root / "tests").mkdir()
    rules = "\n".join(
        f"- Rule {i}: keep handlers thin, validate input at the edge, log with context, "
        f"and cover every branch of module {i} with a focused test."
        for i in range(1, 41)
    )
    (root / "AGENTS.md").write_text(
        f"# How to work on shop\n\nRun `pytest -q` before finishing.\n\n{rules}\n"
    )
    (root / "CONTRIBUTING.md").write_text(
        "# Contributing\n\n"
        + "Write small commits with clear messages; add tests for fixes.\n" * 30
    )
    for name in ("orders", "users", "payments", "catalog", "shipping"):
        body = "\n\n".join(
            f"def {name}_{i}(store, item_id: int, quantity: int = 1) -> dict:\n"
            f'    """Handle {name} operation {i}."""\n'
            f"    record = store.get(item_id)\n"
            f"    if record is None:\n"
            f"        raise KeyError(item_id)\n"
            f"    record['quantity'] = record.get('quantity', 0) + quantity\n"
            f"    return record"
            for i in range(40)
        )
        (root / "src" / "shop" / f"{name}.py").write_text(body + "\n")
        (root / "tests" / f"test_{name}.py").write_text(
            f"from shop.{name} import {name}_0\n\n\ndef test_{name}_0():\n    assert {name}_0\n"
        )
    subprocess.run(["git", "init", "-q", str(root)], check=True)


def script() -> list[Turn]:
    turns = [
        Turn("Getting the lay of the land.", [call("list_files")]),
        Turn(
            "Looking for the order handlers.",
            [call("search", pattern=r"def orders_1\d", path="src")],
        ),
    ]
    modules = ["orders", "users", "payments", "catalog", "shipping"]
    for i in range(TURNS - 4):
        name = modules[i % len(modules)]
        start = 1 + (i * 37) % 200
        if i % 4 == 3:
            turns.append(
                Turn(
                    f"Tightening {name}_{i}.",
                    [
                        call(
                            "edit_file",
                            path=f"src/shop/{name}.py",
                            old=f'    """Handle {name} operation {i}."""',
                            new=f'    """Handle {name} operation {i}; quantity > 0."""',
                        )
                    ],
                )
            )
        else:
            turns.append(
                Turn(
                    f"Reading {name}.py around line {start}.",
                    [
                        call(
                            "read_file",
                            path=f"src/shop/{name}.py",
                            start_line=start,
                            end_line=start + 60,
                        )
                    ],
                )
            )
    turns.append(
        Turn(
            "Checking the tests mention the handlers.",
            [call("search", pattern="assert", path="tests")],
        )
    )
    turns.append(finish("Documented the quantity rule on four handlers; tests untouched."))
    assert len(turns) == TURNS
    return turns


def blocks(body: dict[str, Any]) -> list[str]:
    """The request in cache order (tools, system, messages), without breakpoint markers."""

    def clean(block: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)

    out = [clean(t) for t in body.get("tools", [])] + [clean(b) for b in body["system"]]
    for message in body["messages"]:
        out.extend(message["role"] + clean(b) for b in message["content"])
    return out


def tokens(block: str) -> int:
    return max(1, -(-len(block) // CHARS_PER_TOKEN))


async def session(workdir: Path) -> ScriptedModel:
    model = ScriptedModel(script(), chars_per_token=CHARS_PER_TOKEN)
    config = AgentConfig(
        anthropic_api_key="bench", anthropic_base_url="http://llm.bench", data_dir=workdir / "data"
    )
    runtime = AgentRuntime.from_config(config, ledger=MemoryLedger(), http_client=model.client())
    result = await run_agent(
        "backend",
        "Document the quantity rule on the shop handlers.",
        workdir / "repo",
        runtime=runtime,
        scope=UsageScope("bench"),
        max_steps=TURNS,
    )
    await runtime.aclose()
    if not result.ok or result.steps != TURNS:
        raise SystemExit(
            f"the scripted session did not run to the end: {result.status}: {result.summary}"
        )
    return model


def report(model: ScriptedModel) -> int:
    price = PriceTable().price(MODEL)
    rows = []
    cached_cost = baseline_cost = 0.0
    previous: list[str] = []
    for n, request in enumerate(model.requests, start=1):
        current = blocks(request.body)
        shared = 0
        for a, b in zip(previous, current, strict=False):
            if a != b:
                break
            shared += 1
        total = sum(tokens(b) for b in current)
        reuse = sum(tokens(b) for b in current[:shared]) / total
        u = request.usage
        prompt = u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"]
        cached_cost += (
            u["input_tokens"] * price.input
            + u["cache_creation_input_tokens"] * price.cache_write
            + u["cache_read_input_tokens"] * price.cache_read
        ) / 1e6
        baseline_cost += prompt * price.input / 1e6
        rows.append((n, prompt, reuse, u["cache_read_input_tokens"] / prompt))
        previous = current
    print(
        f"model {MODEL}: ${price.input}/M input, ${price.cache_write}/M cache write, "
        f"${price.cache_read}/M cache read"
    )
    print(f"{'turn':>4} {'prompt tokens':>14} {'prefix reuse':>13} {'cache reads':>12}")
    for n, prompt, reuse, read in rows:
        shown = "-" if n == 1 else f"{reuse:.1%}"
        print(f"{n:>4} {prompt:>14,} {shown:>13} {read:>12.1%}")
    later = rows[1:]
    avg_reuse = sum(r[2] for r in later) / len(later)
    avg_read = sum(r[3] for r in later) / len(later)
    saving = baseline_cost / cached_cost
    print(
        f"\naverage prefix reuse, turns 2-{len(rows)}: {avg_reuse:.1%} "
        f"(target >= {TARGET_REUSE:.0%})"
    )
    print(f"average cache-read share, turns 2-{len(rows)}: {avg_read:.1%}")
    print(
        f"input cost: ${cached_cost:.4f} with caching vs ${baseline_cost:.4f} without "
        f"= {saving:.2f}x lower (target >= {TARGET_SAVING:.0f}x)"
    )
    missed = avg_reuse < TARGET_REUSE or saving < TARGET_SAVING
    print("RESULT:", "target missed" if missed else "targets met")
    return 1 if missed else 0


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="aios-bench-"))
    workdir.chmod(0o711)
    try:
        make_repo(workdir / "repo")
        model = asyncio.run(session(workdir))
        return report(model)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
