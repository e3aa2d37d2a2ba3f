"""A work item's job that died on its last attempt without raising: the item fails, with why.

`item_scope` fails the item when a job's last attempt raises. A job can also end without
reaching it: its worker or work horse killed each time (the OOM killer, a crashing host),
or RQ's own timeout alarm, which surfaces in the event loop past every handler. RQ calls
the job's failure callback (`job_lost`) for those too, from the started-job registry's
abandoned-job handling or from `AgentWorker` when a horse dies; on the last attempt it
enqueues `report_lost_job`, which fails the item unless it has moved on.
"""

from __future__ import annotations

from types import TracebackType

import redis
import structlog
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException

from bot import engine
from bot.runtime.catalog import REPORT_LOST_JOB
from bot.runtime.queues import JobQueue, job_key
from bot.runtime.scope import HorseKilled, job_scope
from bot.workitem.states import State

log = structlog.get_logger(__name__)


WORKING_IN: dict[str, State] = {
    "run_triage": State.TRIAGE,
    "run_task": State.IMPLEMENTING,
    "run_fix": State.IMPLEMENTING,
    "finish_implementation": State.IMPLEMENTING,
    "run_qa_review": State.IN_REVIEW,
}
"""The state an item waits in while each job works for it: a lost job fails only such an
item (one that moved on, cancelled or merged meanwhile, is left alone)."""

_DIED = (AbandonedJobError, JobTimeoutException, HorseKilled)


def job_lost(
    job: Job,
    connection: redis.Redis,
    exc_type: type[BaseException] | None = None,
    exc_value: BaseException | None = None,
    traceback: TracebackType | None = None,
) -> None:
    """RQ's `on_failure` callback of the jobs in `WORKING_IN`."""
    if exc_type is not None and not issubclass(exc_type, _DIED):
        return  # it raised: `item_scope` saw it and failed the item on the last attempt
    if job.retries_left:
        return  # RQ runs it again, from the agent's last checkpoint
    _installation_id, repo, number = job.args[:3]
    function = job.func_name.rpartition(".")[2]
    why = _why(function, exc_type, exc_value, attempts=(job.number_of_retries or 0) + 1)
    JobQueue(connection).enqueue(
        REPORT_LOST_JOB, repo, number, job.id, function, why, key=job_key("lost", job.id)
    )
    log.warning("job lost for good", job_id=job.id, why=why)


def _why(
    function: str, exc_type: type[BaseException] | None, exc: BaseException | None, attempts: int
) -> str:
    if exc_type is not None and issubclass(exc_type, JobTimeoutException):
        return f"{function} did not finish within its time limit ({exc})"
    if exc_type is not None and issubclass(exc_type, HorseKilled):
        return f"{function} was killed on every attempt ({attempts}; last: {exc})"
    return f"{function}'s worker died on every attempt ({attempts})"


async def report_lost_job(
    repo: str, issue_number: int, job_id: str, function: str, why: str
) -> None:
    """Fail the item the lost job worked for, if it still waits for that job."""
    async with job_scope("report_lost_job", repo=repo, issue=issue_number) as ctx:
        item = await engine.load(ctx, repo, issue_number)
        if item is None or item.state is not WORKING_IN.get(function):
            return
        if item.pending is not None and item.pending.job_id == job_id:
            return  # it died carrying out a transition: the sweeper finishes that
        agent = "; its agent's work so far is kept: `/aios retry` continues from it"
        await engine.fail(ctx, item, why + agent)
