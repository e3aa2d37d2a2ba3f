"""The agent loop: call the model, run the tools it asks for, feed results back, until it stops."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from bot.agents import prompts
from bot.agents.budget import BudgetExceeded, check_budgets
from bot.agents.checkpoint import LoopState
from bot.agents.errors import LLMError, ModelsUnavailableError, SpendLimitError
from bot.agents.ledger import UsageScope
from bot.agents.llm.types import Message, Request, Text, ToolResult, Usage
from bot.agents.roster import Role
from bot.agents.routing import ModelRef
from bot.agents.runtime import AgentRuntime
from bot.agents.sandbox import Sandbox
from bot.agents.tools import FinishGate, Toolbox, ToolError
from bot.agents.transcript import Transcript, transcript_path
from bot.github.push_guard import PushPolicy
from bot.github.workspace import git_dir_of
from bot.redact import redact

log = structlog.get_logger(__name__)

TRANSCRIPT_RESULT_CHARS = 8000


class StopReason(StrEnum):
    FINISHED = "finished"
    STEP_LIMIT = "step_limit"
    BUDGET = "budget"
    LLM_ERROR = "llm_error"
    TIME_LIMIT = "time_limit"
    SPEND_LIMIT = "spend_limit"
    """The provider account is out of credit or over its spend limit: nothing runs until a
    person raises it."""
    MODELS_UNAVAILABLE = "models_unavailable"
    """Every model stayed overloaded or circuit-open: the run can start again later
    (`AgentResult.retry_in_s`)."""
    INTERRUPTED = "interrupted"
    """Asked to stop between steps (AIOS is shutting down): the last checkpoint holds the
    run, which continues from it when its job runs again."""


@dataclass(frozen=True)
class Step:
    """One event of a run, handed to `on_step`: a model turn or one tool call."""

    index: int
    kind: str
    """"model" (the agent spoke and/or asked for tools) or "tool" (a tool call finished)."""
    role: Role
    text: str = ""
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    result: str = ""
    is_error: bool = False
    changed: str | None = None
    model: str | None = None
    usage: Usage | None = None
    cost_usd: float = 0.0
    run_cost_usd: float = 0.0


StepHook = Callable[[Step], Awaitable[None] | None]
CheckpointHook = Callable[[LoopState], Awaitable[None]]


@dataclass(frozen=True)
class AgentResult:
    status: StopReason
    summary: str
    """The agent's `finish` summary, or the message saying why the run stopped."""
    steps: int
    usage: Usage
    cost_usd: float
    models: tuple[str, ...]
    files_changed: tuple[str, ...]
    transcript: Path | None
    error: LLMError | None = None
    """The model failure that stopped the run, when one did."""
    retry_in_s: float | None = None
    """With MODELS_UNAVAILABLE: when the models may answer again."""

    @property
    def ok(self) -> bool:
        return self.status is StopReason.FINISHED


async def run_agent(
    role: Role | str,
    task: str,
    workspace: Path,
    *,
    runtime: AgentRuntime,
    scope: UsageScope,
    task_kind: str = "code",
    context: str | None = None,
    max_steps: int | None = None,
    on_step: StepHook | None = None,
    sandbox: Sandbox | None = None,
    finish_gate: FinishGate | None = None,
    git_dir: Path | None = None,
    extra_secrets: Iterable[str] = (),
    task_source: str = "maintainer",
    policy: PushPolicy | None = None,
    resume: LoopState | None = None,
    on_checkpoint: CheckpointHook | None = None,
    deadline: float | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> AgentResult:
    """Run one agent on `task` in `workspace` until it finishes, hits the step limit or a budget.

    `context` is the repository block of the prompt (default: the workspace's instruction
    files). `policy`: the paths the write tools refuse, from the work item's settings
    (default: `AIOS_ALLOW_WORKFLOW_EDITS` and the default protected paths, for `aios agent`).
    `git_dir` (default: the workspace's, found by `git_dir_of`) is shown read-only to
    commands and named to git. `finish_gate` (the test verdict) is asked before it finishes.
    Tool failures go back to the model; only budgets, the step limit and model failures that
    survive retries and fallbacks end the run early, never raising: see `status`, `summary`.

    `on_checkpoint` gets the run's state after every step whose tool results are in, and
    when it finishes; `resume` continues from such a state (its workspace restored by the
    caller) with its own prompt prefix, so nothing already answered is asked again. The step
    limit counts the model calls of this run: a resumed run may take as many again.
    `deadline` (event-loop time) cuts the step under way short; the last checkpoint stands.
    `stop_requested` is asked before each step: once it says yes, the run ends INTERRUPTED
    where it is (the step under way finished and checkpointed, no new one started).
    """
    role = runtime.roster.get(role) if isinstance(role, str) else role
    config = runtime.config
    secrets = (*runtime.secrets(), *extra_secrets)
    git_dir = git_dir if git_dir is not None else git_dir_of(workspace)
    own_sandbox = sandbox is None and "run" in role.tools
    if own_sandbox:
        sandbox = Sandbox(
            workspace,
            git_dir=git_dir,
            limits=config.sandbox,
            env_allow=config.sandbox_env_allow,
            mode=config.sandbox_mode,
        )
    toolbox = Toolbox(
        workspace,
        sandbox=sandbox,
        git_dir=git_dir,
        allowed=role.tools,
        policy=policy or PushPolicy(allow_workflow_edits=config.allow_workflow_edits),
        finish_gate=finish_gate,
    )
    if resume is not None:
        context, system = resume.context, resume.system
    else:
        if context is None:
            context = prompts.repo_context(prompts.load_instructions(workspace))
        system = prompts.system_prompt(role, runtime.roster)
    role_default = runtime.role_model(role)
    transcript = Transcript(transcript_path(config.data_dir, scope.job_id), secrets)
    # The role labels the spend `/metrics` serves; the ledger's keys stay by job and item.
    charged = replace(scope, role=role.key)
    run = _Run(role, runtime, charged, toolbox, transcript, on_step, secrets, on_checkpoint)
    run.stop_requested = stop_requested
    transcript.write(
        "start",
        role=role.key,
        task=task,
        task_kind=task_kind,
        workspace=str(workspace),
        models=[str(m) for m in runtime.router.chain(role.key, task_kind, role_default)],
        tools=list(toolbox.allowed),
        sandbox=sandbox.describe() if sandbox else None,
    )
    messages: list[Message] = [
        Message("user", (Text(prompts.task_message(task, source=task_source)),))
    ]
    if resume is not None:
        messages = list(resume.messages)
        run.resume_from(resume)
        transcript.write("resume", step=resume.steps, finished=resume.finished is not None)
    limit = max_steps if max_steps is not None else config.max_steps
    try:
        if resume is not None and resume.finished is not None:
            result = run.result(StopReason.FINISHED, resume.finished, resume.steps)
        else:
            try:
                async with asyncio.timeout_at(deadline) as clock:
                    result = await run.loop(
                        messages, system, context, limit, task_kind, role_default
                    )
            except TimeoutError:
                if not clock.expired():
                    raise
                result = run.result(
                    StopReason.TIME_LIMIT,
                    f"Stopped: ran out of time after {run.steps_done} step(s) (the job's time "
                    "limit, `AIOS_AGENT_TIMEOUT_S`); the work so far is kept.",
                    run.steps_done,
                )
    finally:
        if own_sandbox and sandbox is not None:
            sandbox.close()
    transcript.write(
        "stop",
        status=result.status.value,
        summary=result.summary,
        steps=result.steps,
        cost_usd=round(result.cost_usd, 6),
        usage=result.usage.__dict__,
    )
    transcript.close()
    return result


class _Run:
    def __init__(
        self,
        role: Role,
        runtime: AgentRuntime,
        scope: UsageScope,
        toolbox: Toolbox,
        transcript: Transcript,
        on_step: StepHook | None,
        secrets: tuple[str, ...],
        on_checkpoint: CheckpointHook | None = None,
        *,
        stop_requested: Callable[[], bool] | None = None,
    ) -> None:
        self.role = role
        self.on_checkpoint = on_checkpoint
        self.stop_requested = stop_requested
        self.first_step = 1
        self.steps_done = 0
        self.runtime = runtime
        self.scope = scope
        self.toolbox = toolbox
        self.transcript = transcript
        self.on_step = on_step
        self.secrets = secrets
        self.usage = Usage()
        self.cost = 0.0
        self.models: list[str] = []
        self.changed: list[str] = []

    def resume_from(self, state: LoopState) -> None:
        self.usage, self.cost = state.usage, state.cost_usd
        self.models, self.changed = list(state.models), list(state.files_changed)
        self.first_step = state.steps + 1
        self.steps_done = state.steps

    async def checkpoint(
        self, system: str, context: str, messages: list[Message], steps: int, finished: str | None
    ) -> None:
        if self.on_checkpoint is None:
            return
        state = LoopState(
            system,
            context,
            tuple(messages),
            steps,
            self.usage,
            self.cost,
            tuple(self.models),
            tuple(self.changed),
            finished,
        )
        try:
            await self.on_checkpoint(state)
        except Exception:
            # A lost checkpoint costs a longer resume, never the run itself.
            log.exception("agent.checkpoint_failed", step=steps)

    def result(
        self, status: StopReason, summary: str, steps: int, error: LLMError | None = None
    ) -> AgentResult:
        return AgentResult(
            status=status,
            summary=summary,
            steps=steps,
            usage=self.usage,
            cost_usd=self.cost,
            models=tuple(self.models),
            files_changed=tuple(self.changed),
            transcript=self.transcript.path,
            error=error,
            retry_in_s=error.retry_in_s if isinstance(error, ModelsUnavailableError) else None,
        )

    async def emit(self, step: Step) -> None:
        if self.on_step is None:
            return
        try:
            outcome = self.on_step(step)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            # Narration is best effort: a failing hook must not stop the work.
            log.exception("agent.step_hook_failed", step=step.index, kind=step.kind)

    async def loop(
        self,
        messages: list[Message],
        system: str,
        context: str,
        max_steps: int,
        task_kind: str,
        role_default: ModelRef | None,
    ) -> AgentResult:
        rt = self.runtime
        last = self.first_step + max_steps - 1
        for index in range(self.first_step, last + 1):
            if self.stop_requested is not None and self.stop_requested():
                self.transcript.write("interrupted", step=index - 1)
                summary = f"Interrupted after {index - 1} step(s): AIOS is shutting down."
                return self.result(StopReason.INTERRUPTED, summary, index - 1)
            try:
                await check_budgets(rt.ledger, self.scope, rt.budgets)
            except BudgetExceeded as exc:
                return self.result(StopReason.BUDGET, f"Stopped: {exc}", index - 1)
            request = Request(
                system=system,
                messages=tuple(messages),
                tools=self.toolbox.specs,
                context=context,
                max_tokens=rt.config.max_tokens,
            )
            try:
                ref, response = await rt.router.complete(
                    request,
                    role=self.role.key,
                    task=task_kind,
                    role_default=role_default,
                    # Before its first answer a run has nothing to lose: when every model
                    # fails it is better run again later than kept waiting on its worker.
                    patience_s=None if self.models else 0.0,
                )
            except LLMError as exc:
                message = redact(str(exc), self.secrets)
                self.transcript.write(
                    "model_error", step=index, error=message, kind=type(exc).__name__
                )
                summary = f"Stopped: the model call failed: {message}"
                return self.result(_stop_reason(exc), summary, index - 1, exc)
            self.steps_done = index
            cost = rt.prices.cost(ref.model, response.usage)
            await rt.ledger.record(self.scope, str(ref), response.usage, cost)
            self.usage = self.usage + response.usage
            self.cost += cost
            if str(ref) not in self.models:
                self.models.append(str(ref))
            messages.append(response.message)
            calls = response.message.tool_calls
            text = response.message.text
            self.transcript.write(
                "model",
                step=index,
                model=str(ref),
                text=text,
                tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls],
                usage=response.usage.__dict__,
                cost_usd=round(cost, 6),
                stop_reason=response.stop_reason,
            )
            await self.emit(
                Step(
                    index,
                    "model",
                    self.role,
                    text=text,
                    model=str(ref),
                    usage=response.usage,
                    cost_usd=cost,
                    run_cost_usd=self.cost,
                )
            )
            if not calls:
                summary = text.strip() or "(no summary)"
                await self.checkpoint(system, context, messages, index, summary)
                return self.result(StopReason.FINISHED, summary, index)
            results: list[ToolResult] = []
            finished: str | None = None
            for call in calls:
                content, is_error, changed, done = await self.call_tool(call.name, call.arguments)
                results.append(ToolResult(call.id, content, is_error))
                if changed and changed not in self.changed:
                    self.changed.append(changed)
                if done:
                    finished = content
                self.transcript.write(
                    "tool",
                    step=index,
                    id=call.id,
                    name=call.name,
                    arguments=call.arguments,
                    is_error=is_error,
                    result=content[:TRANSCRIPT_RESULT_CHARS],
                )
                await self.emit(
                    Step(
                        index,
                        "tool",
                        self.role,
                        tool=call.name,
                        arguments=call.arguments,
                        result=content,
                        is_error=is_error,
                        changed=changed,
                        run_cost_usd=self.cost,
                    )
                )
            if finished is not None:
                await self.checkpoint(system, context, messages, index, finished)
                return self.result(StopReason.FINISHED, finished, index)
            messages.append(Message("user", tuple(results)))
            await self.checkpoint(system, context, messages, index, None)
        return self.result(
            StopReason.STEP_LIMIT,
            f"Stopped: reached the step limit of {max_steps} model calls without `finish`. "
            "Raise AIOS_AGENT_MAX_STEPS or split the task.",
            last,
        )

    async def call_tool(
        self, name: str, arguments: dict[str, Any]
    ) -> tuple[str, bool, str | None, bool]:
        """(content, is_error, changed path, finished) — never raises."""
        try:
            outcome = await self.toolbox.call(name, arguments)
        except ToolError as exc:
            return redact(str(exc), self.secrets), True, None, False
        except Exception as exc:
            log.exception("agent.tool_crashed", tool=name)
            message = f"internal error in {name}: {type(exc).__name__}: {exc}"
            return redact(message, self.secrets), True, None, False
        return redact(outcome.content, self.secrets), False, outcome.changed, outcome.finished


def _stop_reason(error: LLMError) -> StopReason:
    if isinstance(error, SpendLimitError):
        return StopReason.SPEND_LIMIT
    if isinstance(error, ModelsUnavailableError):
        return StopReason.MODELS_UNAVAILABLE
    return StopReason.LLM_ERROR
