"""Why the agents handed a pull request to the maintainers, in words they can act on (pure)."""

from __future__ import annotations

from bot.workitem.item import WorkItem
from bot.workitem.states import Event


def stop_reason(item: WorkItem) -> str | None:
    """The message for the event that made the item stop; None when another comment says it
    (a blocked merge writes its own)."""
    event = item.pending.event if item.pending else None
    policy = item.settings
    checks = item.ci.failed_checks or "the failing checks"
    if event == Event.CI_FAILED and item.ci.repeated:
        return (
            f"🛑 CI failed the same way twice in a row ({checks}), so the agents stopped "
            "fixing it: it needs a human look. Push a fix yourself, or give the agents a hint "
            "with `/aios fix <what to change>`."
        )
    if event == Event.CI_FAILED:
        return (
            f"🛑 CI still fails ({checks}) after {item.ci_fix_attempts} fix attempt(s), the "
            "limit (`workflow.max_ci_fix_attempts` in `.github/aios.yml`). The pull request "
            "is yours now: push a fix, or `/aios fix <what to change>` once more."
        )
    if event == Event.CHANGES_REQUESTED:
        return (
            f"✋ The agents have done {item.fix_rounds} fix round(s) on review feedback, the "
            f"limit (`workflow.max_fix_rounds`: {policy.max_fix_rounds}). They wait now: push "
            "the remaining changes yourself, or raise the limit in `.github/aios.yml`."
        )
    if event == Event.REVIEW_CHANGES_REQUESTED:
        return (
            f"🔍 The QA agent still has remarks after {item.review_rounds} round(s) of fixes "
            f"(`workflow.max_review_rounds`: {policy.max_review_rounds}); its latest review "
            "is above. Over to you: approve, request changes, or `/aios fix <text>`."
        )
    return None
