"""Effects: what a transition asks for, each carried out by one function.

`bot.engine` runs them in order after the transition is stored; each returns a `Done` (a
change to record, an event that follows) and never calls the engine back.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.effects import comments, enqueue, merge, progress, pull_request
from bot.effects.done import EffectFunction
from bot.workitem.states import Effect

EFFECTS: Mapping[Effect, EffectFunction] = {
    Effect.UPDATE_PROGRESS: progress.update_progress,
    Effect.RUN_CTO_TRIAGE: enqueue.run_cto_triage,
    Effect.POST_QUESTIONS: comments.post_questions,
    Effect.POST_PLAN: comments.post_plan,
    Effect.START_IMPLEMENTATION: enqueue.start_implementation,
    Effect.OPEN_DRAFT_PR: pull_request.open_draft_pr,
    Effect.WATCH_CI: enqueue.watch_ci,
    Effect.RUN_QA_REVIEW: enqueue.run_qa_review,
    Effect.RUN_FIX: enqueue.run_fix,
    Effect.REQUEST_REVIEW: pull_request.request_review,
    Effect.ASK_HUMAN: comments.ask_human,
    Effect.MERGE: merge.merge,
    Effect.CANCEL_JOBS: enqueue.cancel_jobs,
    Effect.POST_FAILURE: comments.post_failure,
    Effect.ASK_FOR_BUDGET: comments.ask_for_budget,
    Effect.LEARN_FROM_PR: enqueue.learn_from_pr,
}
"""Every effect of the transition table, and the function that carries it out."""
