"""CI on the fake: other Apps' check results, commit statuses and required checks (a mixin)."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import Any, cast

from aiohttp import web

from bot.testbed.github import app_events_loop
from bot.testbed.github.ci import LOG_PATH, BlobRequest, JobLogStorage, suite_for
from bot.testbed.github.facade import Fake
from bot.testbed.github.state import GITHUB_ACTIONS, CheckRun, CommitStatus, OtherApp, iso
from bot.testbed.loopback import LoopbackServer

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
RUNNING = ("queued", "in_progress", "waiting", "requested", "pending")

Deliveries = list[tuple[str, dict[str, Any]]]


class CIResults:
    """FakeGitHub's methods for CI outside AIOS: another App's check runs and commit statuses.

    Job logs of GitHub Actions runs are served by a blob storage on its own loopback port
    (another host, as on GitHub), started with the first log and stopped by
    `stop_job_log_storage()` or when the fake is collected.
    """

    @property
    def _fake(self) -> Fake:
        return cast("Fake", self)

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
        log: str | None = None,
        deliver: bool = True,
    ) -> CheckRun:
        """A completed check run `name` of App `app` on `head_sha` (a sha or a branch).

        Delivers `check_run.completed` and `check_suite.completed` (their `pull_requests` list
        the open pull requests whose head is that commit) and, for GitHub Actions,
        `workflow_run.completed`. `annotations` are check-run annotations (`path`,
        `start_line`, `end_line`, `annotation_level`, `message`, optional `title`).
        `log` is the job's log (GitHub Actions only), with or without the runner's
        `2024-01-01T00:00:00.0000000Z ` line prefixes; without it the log download answers 404.
        """
        run, events = self._ci(
            full_name, head_sha, name, conclusion, summary, text, annotations, app, log
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
        log: str | None = None,
        deliver: bool = True,
    ) -> CheckRun:
        run, events = self._ci(
            full_name, head_sha, name, conclusion, summary, text, annotations, app, log
        )
        if deliver:
            for event, payload in events:
                await self._fake.adeliver(event, payload)
        return run

    def ci_started(
        self,
        full_name: str,
        head_sha: str,
        *,
        name: str = "tests",
        status: str = "in_progress",
        app: str = GITHUB_ACTIONS.slug,
    ) -> CheckRun:
        """A check run `name` of App `app` on `head_sha` that has not finished; no webhook."""
        if status not in RUNNING:
            raise ValueError(f"status must be one of {RUNNING}, not {status!r}")
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            sha = self._commit(full_name, head_sha)
            other = self._other_app(app)
            suite = suite_for(self._fake.state, repo, sha, other.app_id)
            run = CheckRun(
                id=self._fake.state.next_id(),
                repo=repo.full_name,
                name=name,
                head_sha=sha,
                check_suite_id=suite.id,
                app_id=other.app_id,
                status=status,
                details_url=f"{self._fake.html_url}/{repo.full_name}/actions/runs/{suite.id}",
            )
            repo.check_runs[run.id] = run
            suite.updated_at = iso()
            return run

    @property
    def job_log_downloads(self) -> list[BlobRequest]:
        """Requests the job-log storage answered, oldest first (none before the first log)."""
        with self._fake.lock:
            storage = self._log_storage[0] if self._log_storage else None
            return list(storage.requests) if storage is not None else []

    def stop_job_log_storage(self) -> None:
        """Stop the job-log storage's server, if a log ever started it."""
        if self._log_storage:
            self._log_storage[1].stop()

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

    def set_required_checks(
        self, full_name: str, branch: str, contexts: Iterable[str], *, ruleset: bool = False
    ) -> None:
        """Protect `branch`: merging needs every context green (an empty list unprotects it).

        `ruleset`: require them through a repository ruleset instead of branch protection.
        """
        names = list(contexts)
        with self._fake.lock:
            repo = self._fake.repo(full_name)
            where = repo.ruleset_checks if ruleset else repo.required_checks
            if names:
                where[branch] = names
            else:
                where.pop(branch, None)

    # -- the work ----------------------------------------------------------------------------

    _log_storage: tuple[JobLogStorage, LoopbackServer] | None = None

    def _job_log_storage(self) -> JobLogStorage:
        if self._log_storage is None:
            app = web.Application()
            app.router.add_get(LOG_PATH.replace("{job_id}", r"{job_id:\d+}"), self._serve_log)
            server = LoopbackServer(app)
            server.start()
            weakref.finalize(self, server.stop)
            self._log_storage = (JobLogStorage(server.origin), server)
        return self._log_storage[0]

    async def _serve_log(self, request: web.Request) -> web.Response:
        job_id = int(request.match_info["job_id"])
        query = {key: request.query[key] for key in request.query}
        headers = {key.lower(): value for key, value in request.headers.items()}
        if "authorization" in headers:  # recorded as present, never as its value
            headers["authorization"] = headers["authorization"].split(" ")[0] + " <redacted>"
        with self._fake.lock:
            storage = self._job_log_storage()
            refusal = storage.refusal(job_id, query)
            runs = (repo.check_runs.get(job_id) for repo in self._fake.state.repos.values())
            run = next((r for r in runs if r is not None), None)
            log = run.log if run is not None and not refusal else None
            status = 403 if refusal else (404 if log is None else 200)
            storage.requests.append(
                BlobRequest(request.method, request.path, query, headers, status)
            )
        if log is None:
            return web.Response(status=status, text=refusal or "The specified blob does not exist.")
        return web.Response(text=log, content_type="text/plain", charset="utf-8")

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
        log: str | None = None,
    ) -> tuple[CheckRun, Deliveries]:
        if conclusion not in CONCLUSIONS:
            raise ValueError(f"conclusion must be one of {CONCLUSIONS}, not {conclusion!r}")
        if log is not None and app != GITHUB_ACTIONS.slug:
            raise ValueError(f"only GitHub Actions jobs have logs; {app!r} runs cannot carry one")
        storage = self._job_log_storage() if log is not None else None
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
                log=log,
                log_storage=storage,
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
