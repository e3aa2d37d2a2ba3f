"""What an effect hands back to the engine: a change to record, and an event that follows.

Effects never write the work item or report events themselves: `bot.engine` applies the
change under the item's lock and reports the follow-up once the transition's effects are
all carried out. So the dependency points one way (engine → effects) and a crash between
two effects leaves the transition's pending effects to be carried out again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gidgethub.abc import GitHubAPI

from bot.runtime.context import WorkerContext
from bot.workitem.item import WorkItem
from bot.workitem.states import Event


@dataclass(frozen=True)
class FollowUp:
    """An event an effect learned of (the merge happened, or is blocked)."""

    event: Event
    actor: str
    detail: str = ""
    hint: str | None = None
    """For a failure: what would help, shown instead of `/aios retry`."""


@dataclass(frozen=True)
class Done:
    change: Callable[[WorkItem], WorkItem] | None = None
    """Data the effect learned (a comment id, the PR's number), recorded under the lock."""
    follow_up: FollowUp | None = None


NOTHING = Done()

EffectFunction = Callable[[WorkerContext, GitHubAPI, WorkItem], Awaitable[Done]]
"""`(ctx, gh, item) -> Done`: `gh` is the installation's client, `item` the item as stored."""
