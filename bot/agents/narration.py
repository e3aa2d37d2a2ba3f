"""What `aios agent run` prints on stdout: each step in the agent's voice, then the outcome."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from bot.agents.loop import AgentResult, Step, StopReason
from bot.agents.pricing import UNKNOWN_MODEL_PRICE, PriceTable
from bot.agents.routing import ModelRef

ARG_PREVIEW = 80
FAILED_OUTPUT_LINES = 20
"""Lines of a failing command's output shown (its end, where the error usually is)."""
RUN_OK = re.compile(r"^\[exit code 0;")


@dataclass(frozen=True)
class Limits:
    """The limits this run had, as the flags that set them."""

    budget_usd: float | None
    max_steps: int


def narrate(step: Step, out: TextIO) -> None:
    """One step: the agent's words, or a tool call (with a failing command's output)."""
    role = step.role
    if step.kind == "model":
        if step.text.strip():
            print(f"{role.emoji} {role.name}: {step.text.strip()}", file=out, flush=True)
        return
    detail = _arguments(step)
    print(f"   ↳ {step.tool}{' ' + detail if detail else ''}", file=out)
    if step.is_error:
        print(f"     ✗ {step.result.splitlines()[0] if step.result else 'failed'}", file=out)
    elif step.tool == "run":
        _run_outcome(step.result, out)
    out.flush()


def _run_outcome(result: str, out: TextIO) -> None:
    """The status line; for a failing command, the end of its output too: the agent read it,
    and the reader needs it to follow what the agent does next."""
    lines = result.splitlines()
    if len(lines) < 2:
        return
    status, output = lines[1], lines[2:]
    print(f"     {status}", file=out)
    if RUN_OK.match(status):
        return
    shown = output[-FAILED_OUTPUT_LINES:]
    if len(output) > len(shown):
        print(f"     │ … {len(output) - len(shown)} earlier lines", file=out)
    for line in shown:
        print(f"     │ {line}", file=out)


def _arguments(step: Step) -> str:
    args = step.arguments
    if step.tool == "run":
        text = str(args.get("command", ""))
    elif step.tool == "search":
        text = f"/{args.get('pattern', '')}/ {args.get('path', '')}".strip()
    elif step.tool == "finish":
        return ""
    else:
        text = str(args.get("path", ""))
    text = " ".join(text.split())
    return text if len(text) <= ARG_PREVIEW else text[: ARG_PREVIEW - 1] + "…"


def unpriced(prices: PriceTable, models: Iterable[str]) -> list[str]:
    """The names of `models` (`provider:model`) with no price: their cost would be a guess."""
    return [ModelRef.parse(m).model for m in models if not prices.known(m)]


def report(result: AgentResult, prices: PriceTable, limits: Limits, out: TextIO) -> None:
    """The outcome, the usage and cost (only where the models have prices), the transcript."""
    u = result.usage
    unknown = unpriced(prices, result.models)
    print("", file=out)
    print(f"[{result.status.value}] {_summary(result, limits, unknown)}", file=out)
    cost = f"cost unknown for {', '.join(unknown)}" if unknown else f"${result.cost_usd:.4f}"
    print(
        f"{result.steps} steps · {u.prompt_tokens:,} input tokens ({u.cache_read_tokens:,} from "
        f"cache) · {u.output_tokens:,} output · {cost}",
        file=out,
    )
    if unknown:
        print("  (AIOS_MODEL_PRICES gives a model its price per million tokens)", file=out)
    if result.transcript:
        print(f"transcript: {result.transcript}", file=out)
    out.flush()


def _summary(result: AgentResult, limits: Limits, unknown: list[str]) -> str:
    """The agent's summary, or why it stopped with the flag that would let it go on: the loop's
    own words name the App's settings, which a command-line run does not read."""
    if result.status is StopReason.STEP_LIMIT:
        return (
            f"Stopped: reached --max-steps {limits.max_steps} without `finish`. Run again with "
            f"a larger --max-steps (e.g. --max-steps {limits.max_steps * 2}) or split the task."
        )
    budget = limits.budget_usd
    if result.status is StopReason.BUDGET and budget is not None and result.cost_usd >= budget:
        estimate = ""
        if unknown:
            estimate = (
                f" ({', '.join(unknown)} has no price: counted at ${UNKNOWN_MODEL_PRICE.input:g}"
                f" in / ${UNKNOWN_MODEL_PRICE.output:g} out per million tokens)"
            )
        return (
            f"Stopped: this run's budget, --budget {_usd(budget)}, is used up{estimate}. Run "
            f"again with a larger one (e.g. --budget {_usd(max(budget * 2, 0.5))}) or split "
            "the task."
        )
    return result.summary


def _usd(amount: float) -> str:
    return f"{amount:.2f}" if round(amount, 2) == amount else f"{amount:g}"
