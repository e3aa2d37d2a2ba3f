"""Turn what CI says about an agent PR's head commit into the work item's `ci_*` events."""

from __future__ import annotations

from dataclasses import replace

import structlog

from bot import engine
from bot.effects.progress import CHECK_RUN_NAME
from bot.github.ci import CIVerdict, read_ci
from bot.jobs.fix import CI_FAILURE
from bot.runtime.context import WorkerContext
from bot.workitem.rules import CI_REPEATED, Event, State, WorkItem

log = structlog.get_logger(__name__)

LAST_FAILURE = "ci_fingerprint"
"""`WorkItem.extra`: the fingerprint of the last CI failure a fix round was started for."""

WATCHED = (State.VERIFYING, State.IN_REVIEW, State.AWAITING_APPROVAL)


async def evaluate(
    ctx: WorkerContext, installation_id: int, repo: str, number: int, sha: str
) -> None:
    """Report `ci_passed` or `ci_failed` for `sha` if it is still the head; wait while pending."""
    item = await engine.update_item(ctx, repo, number, lambda i: i)
    if item is None or item.state not in WATCHED or item.extra.get("head_sha") != sha:
        return
    async with ctx.github(installation_id) as gh:
        report = await read_ci(
            gh, repo, sha, own_app_id=ctx.settings.app_id, own_check_name=CHECK_RUN_NAME
        )
    log.info("ci evaluated", sha=sha, verdict=report.verdict.value)
    if report.verdict is CIVerdict.PENDING:
        return  # the suite still running sends its own completion event
    if report.verdict is CIVerdict.FAILED:
        names = ", ".join(f"`{check.name}`" for check in report.failed)

        def note(current: WorkItem) -> WorkItem:
            repeated = current.extra.get(LAST_FAILURE) == report.fingerprint
            extra = {
                **current.extra,
                CI_FAILURE: report.digest(),
                CI_REPEATED: repeated,
                LAST_FAILURE: report.fingerprint,
                "ci_failed_checks": names,
            }
            return replace(current, extra=extra)

        await engine.apply(
            ctx, repo, number, Event.CI_FAILED, actor="ci", detail=f"failed: {names}", update=note
        )
        return

    def cleared(current: WorkItem) -> WorkItem:
        # "No checks yet" on a fresh push is not a pass: the last failure stays remembered,
        # so the same failure reported later still counts as twice in a row.
        gone = (CI_FAILURE, CI_REPEATED, "ci_failed_checks")
        if report.verdict is CIVerdict.PASSED:
            gone += (LAST_FAILURE,)
        return replace(current, extra={k: v for k, v in current.extra.items() if k not in gone})

    detail = "no checks" if report.verdict is CIVerdict.NONE else "checks green"
    await engine.apply(
        ctx, repo, number, Event.CI_PASSED, actor="ci", detail=detail, update=cleared
    )
