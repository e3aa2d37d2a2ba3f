"""What `aios serve` is not ready for yet, with the fix: for /readyz and the first screen."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.agents.model_keys import PROVIDER_VARIABLE, missing_model_key
from bot.runtime.redis_clients import where

WORKERS_SLOW_AFTER_S = 60.0
"""Workers that have not registered after this long are no longer 'starting': see the log."""

OPENAI_COMPATIBLE = "AIOS_LLM_PROVIDER=openai with OPENAI_API_KEY and OPENAI_BASE_URL"


def model_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why agents cannot call a model with this configuration, or None when they can.

    Webhooks are stored and routed without a model; only agent jobs need one.
    """
    variable = missing_model_key(environ)
    if variable is None:
        return None
    if variable == PROVIDER_VARIABLE:
        return f"{PROVIDER_VARIABLE} must be anthropic or openai: fix it and restart"
    if variable == "OPENAI_API_KEY":
        return (
            f"{variable} is not set (AIOS_LLM_PROVIDER=openai): set it in .env (and "
            "OPENAI_BASE_URL for a server other than OpenAI's) and restart"
        )
    return (
        f"{variable} is not set: agents cannot call a model. Set it in .env, or use an "
        f"OpenAI-compatible server ({OPENAI_COMPATIBLE}), and restart"
    )


def redis_unreachable(url: str, error: Exception, *, embedded: bool = False) -> str:
    """One line for a Redis that does not answer; names REDIS_URL unless serve runs its own."""
    if embedded:
        return (
            f"the embedded Redis at {where(url)} does not answer ({error}): "
            "see AIOS_DATA_DIR/redis/redis.log and restart `aios serve`"
        )
    return (
        f"Redis at REDIS_URL={where(url)} is unreachable ({error}): start Redis there "
        "or fix REDIS_URL"
    )


@dataclass
class ServeWorkers:
    """The worker processes `aios serve` started, as /readyz sees them.

    `processes` is serve's own list, in which its supervisor replaces a dead worker.
    """

    processes: list[subprocess.Popen[bytes]]
    started_at: float = field(default_factory=time.monotonic)

    def alive(self) -> int:
        return sum(1 for process in self.processes if process.poll() is None)


@dataclass(frozen=True)
class Readiness:
    """What serve knows beyond Redis: its own workers, its model, where its Redis comes from.

    The default (no serve around it: `aios serve --workers 0` or a test app) expects
    workers from `aios worker`.
    """

    workers: ServeWorkers | None = None
    model_problem: str | None = None
    embedded_redis: bool = False

    def no_worker_registered(self) -> str:
        """Why no worker is in RQ's registry, and what to do about it."""
        if self.workers is None or not self.workers.processes:
            return "no worker alive: start one with `aios worker`"
        if self.workers.alive() == 0:
            return (
                "no worker alive: the workers `aios serve` started exited and are being "
                "started again (see its log); or start one with `aios worker`"
            )
        waited = time.monotonic() - self.workers.started_at
        if waited < WORKERS_SLOW_AFTER_S:
            return f"workers starting: `aios serve` started {self.workers.alive()}"
        return (
            f"workers started by `aios serve` {waited:.0f} s ago have not registered "
            "with Redis: see its log"
        )

    def agents(self) -> dict[str, object]:
        """The agents' part of /readyz: webhooks are accepted either way."""
        if self.model_problem is None:
            return {"ready": True}
        return {"ready": False, "problem": self.model_problem}
