"""CI on the fake: other Apps' check results, commit statuses and required checks (a mixin)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from tests.fakes import app_events_loop
from tests.fakes.github_ci import suite_for
from tests.fakes.github_state import GITHUB_ACTIONS, CheckRun, CommitStatus, OtherApp, iso

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

CONCLUSIONS = (
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
)
STATUS_STATES = ("error", "failure", "pending", "success")

Deliveries = list[tuple[str, dict[str, Any]]]


class CIResults:
    """FakeGitHub's methods for CI outside AIOS: another App's check runs and commit statuses."""

    @property
    def _fake(self) -> FakeGitHub:
        return cast("FakeGitHub", self)

    def ci_result(
        self,
        full_name: str,
        head_sha: str,
        *,
        name: str = "tests",
        conclusion: str = "failure",
        summary: str = "",
        text: str = "",
        annotations: Iterable[Mapping[str, Any]] = (),
        app: str = GITHUB_ACTIONS.slug,
        deliver: bool = True,
    ) -> CheckRun:
        """A completed check run `name` of App `app` on `head_sha` (a sha or a branch).

        Delivers `check_run.completed` and `check_suite.completed` (their `pull_requests` list
        the open pull requests whose head is that commit) and, for GitHub Actions,
        `workflow_run.completed`. `annotations` are check-run annotations (`path`,
        `start_line`, `end_line`, `annotation_level`, `message`, optional `title`).
        """
        run, events = self._ci(
            full_name, head_sha, name, conclusion, summary, text, annotations, app
        )
        if deliver:
            for event, payload in events:
                self._fake.deliver(event, payload)
        return run

    async def aci_result(
        self,
        full_name: str,
        head_sha: str,
        *,
        name: str = "tests",
        conclusion: str = "failure",
        summary: str = "",
        text: str = "",
        annotations: Iterable[Mapping[str, Any]] = (),
        app: str = GITHUB_ACTIONS.slug,
        deliver: bool = True,
    ) -> CheckRun:
        run, events = self._ci(
            full_name, head_sha, name, conclusion, summary, text, annotations, app
        )
        if deliver:
            for event, payload in events:
                await self._fake.adeliver(event, payload)
        return run

    def set_status(
        self,
        full_name: str,
        sha: str,
        context: str,
        state: str,
        *,
        description: str | None = None,
        target_url: str | None = None,
        creator: str = "ci-bot",
    ) -> CommitStatus:
        """A commit status on `sha` (a sha or a branch); no webhook is sent."""
        if state not in STATUS_STATES:
            raise ValueError(f"state must be one of {STATUS_STATES}, not {state!r}")
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            commit = self._commit(full_name, sha)
            status = CommitStatus(
                self._fake.state.next_id(),
                repo.full_name,
                commit,
                context,
                state,
                self._fake.state.user(creator).login,
                description,
                target_url,
            )
            repo.statuses.append(status)
            return status

    def set_required_checks(self, full_name: str, branch: str, contexts: Iterable[str]) -> None:
        """Protect `branch`: merging needs every context green (an empty list unprotects it)."""
        names = list(contexts)
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            if names:
                repo.required_checks[branch] = names
            else:
                repo.required_checks.pop(branch, None)

    # -- the work ----------------------------------------------------------------------------

    def _commit(self, full_name: str, ref: str) -> str:
        sha = self._fake.git(full_name).rev_parse(ref)
        if sha is None:
            raise ValueError(f"{full_name} has no commit or branch {ref!r}")
        return sha

    def _other_app(self, slug: str) -> OtherApp:
        state = self._fake.state
        for known in state.other_apps.values():
            if known.slug == slug:
                return known
        if slug == state.app.slug:
            raise ValueError(f"{slug!r} is the App under test; ci_result() is for other Apps")
        other = OtherApp(state.next_id(), slug, slug.replace("-", " ").title(), slug)
        state.other_apps[other.app_id] = other
        return other

    def _ci(
        self,
        full_name: str,
        head_sha: str,
        name: str,
        conclusion: str,
        summary: str,
        text: str,
        annotations: Iterable[Mapping[str, Any]],
        app: str,
    ) -> tuple[CheckRun, Deliveries]:
        if conclusion not in CONCLUSIONS:
            raise ValueError(f"conclusion must be one of {CONCLUSIONS}, not {conclusion!r}")
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            sha = self._commit(full_name, head_sha)
            other = self._other_app(app)
            suite = suite_for(self._fake.state, repo, sha, other.app_id)
            now = iso()
            run = CheckRun(
                id=self._fake.state.next_id(),
                repo=repo.full_name,
                name=name,
                head_sha=sha,
                check_suite_id=suite.id,
                app_id=other.app_id,
                status="completed",
                conclusion=conclusion,
                completed_at=now,
                summary=summary or None,
                text=text or None,
                annotations=[dict(item) for item in annotations],
                details_url=f"{self._fake.html_url}/{repo.full_name}/actions/runs/{suite.id}",
            )
            repo.check_runs[run.id] = run
            suite.updated_at = now
            sender = f"{other.slug}[bot]"
            events: Deliveries = [
                (
                    "check_run",
                    app_events_loop.check_run(self._fake, full_name, run.id, sender=sender),
                ),
                (
                    "check_suite",
                    app_events_loop.check_suite(self._fake, full_name, suite.id, sender=sender),
                ),
            ]
            if other.slug == GITHUB_ACTIONS.slug:
                payload = app_events_loop.workflow_run(
                    self._fake, full_name, suite.id, name=name, sender=sender
                )
                events.append(("workflow_run", payload))
            return run, events
