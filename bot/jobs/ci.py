"""The `evaluate_ci` job: CI on an agent PR's head becomes `ci_passed` or `ci_failed`."""

from __future__ import annotations

from dataclasses import replace

import structlog

from bot import engine
from bot.github.checks import CHECK_RUN_NAME
from bot.github.ci import CIVerdict, read_ci
from bot.jobs.scope import item_scope
from bot.workitem.item import WorkItem
from bot.workitem.parts import CIState
from bot.workitem.states import Event, State

log = structlog.get_logger(__name__)

WATCHED = (State.VERIFYING, State.IN_REVIEW, State.AWAITING_APPROVAL)


async def evaluate_ci(installation_id: int, repo: str, issue_number: int, sha: str) -> None:
    """Report `ci_passed` or `ci_failed` for `sha` if it is still the head; wait while pending."""
    async with item_scope("evaluate_ci", installation_id, repo, issue_number) as ctx:
        number = issue_number
        item = await engine.load(ctx, repo, number)
        if item is None or item.state not in WATCHED or item.pr.head_sha != sha:
            return
        async with ctx.github(installation_id) as gh:
            report = await read_ci(
                gh, repo, sha, own_app_id=ctx.settings.app_id, own_check_name=CHECK_RUN_NAME
            )
        log.info("ci evaluated", sha=sha, verdict=report.verdict.value)
        if report.verdict is CIVerdict.PENDING:
            return  # the suite still running sends its own completion event
        if report.verdict is CIVerdict.FAILED:
            if item.ci.sha == sha and item.ci.fingerprint == report.fingerprint:
                # A suite, its check run and its workflow run each announce one failure.
                log.info("ci failure already reported", sha=sha)
                return
            names = ", ".join(f"`{check.name}`" for check in report.failed)

            def note(current: WorkItem) -> WorkItem:
                ci = CIState(
                    failure=report.digest(),
                    failed_checks=names,
                    repeated=current.ci.fingerprint == report.fingerprint,
                    fingerprint=report.fingerprint,
                    sha=sha,
                )
                return replace(current, ci=ci)

            detail = f"failed: {names}"
            await engine.apply(
                ctx, repo, number, Event.CI_FAILED, actor="ci", detail=detail, update=note
            )
            return

        def cleared(current: WorkItem) -> WorkItem:
            # "No checks yet" on a fresh push is not a pass: the last failure stays remembered,
            # so the same failure reported later still counts as twice in a row.
            passed = report.verdict is CIVerdict.PASSED
            fingerprint = None if passed else current.ci.fingerprint
            return replace(current, ci=CIState(fingerprint=fingerprint))

        detail = "no checks" if report.verdict is CIVerdict.NONE else "checks green"
        await engine.apply(
            ctx, repo, number, Event.CI_PASSED, actor="ci", detail=detail, update=cleared
        )
