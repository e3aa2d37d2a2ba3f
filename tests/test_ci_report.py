"""Tests of reading CI on a commit: verdicts, failure details, digest and fingerprint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
from gidgethub.abc import GitHubAPI
from gidgethub.httpx import GitHubAPI as PlainGitHubAPI

from bot.github.ci import CIReport, CIVerdict, FailedCheck, read_ci
from bot.github.client import GitHubClient
from bot.github.job_logs import LOG_TAIL_CHARS, LOG_TAIL_LINES, job_log_tail
from bot.testbed.github import FakeGitHub

REPO = "octo-org/hello"
API = f"/repos/{REPO}"
FAILING_TEST = """\
2024-05-01T10:00:00.1234567Z ##[group]Run pytest -q
2024-05-01T10:00:00.2234567Z pytest -q
2024-05-01T10:00:01.0000000Z ##[endgroup]
2024-05-01T10:00:05.5000000Z F.                                                  [100%]
2024-05-01T10:00:05.6000000Z ______________________________ test_add ______________________________
2024-05-01T10:00:05.6100000Z tmp_path = PosixPath('/tmp/pytest-of-runner/pytest-0/test_add0')
2024-05-01T10:00:05.6200000Z >       assert add(2, 2) == 5
2024-05-01T10:00:05.6300000Z E       assert 4 == 5
2024-05-01T10:00:05.6400000Z tests/test_app.py:7: AssertionError
2024-05-01T10:00:05.7000000Z FAILED tests/test_app.py::test_add - assert 4 == 5
2024-05-01T10:00:05.8000000Z 1 failed, 1 passed in 0.42s (worker 3f9c2a1b7d)
2024-05-01T10:00:06.0000000Z ##[error]Process completed with exit code 1.
"""
EXIT_CODE = {
    "path": ".github",
    "start_line": 1,
    "end_line": 1,
    "annotation_level": "failure",
    "message": "Process completed with exit code 1.",
}


class TokenAuth:
    """AIOS's client takes its credential from an Auth; here a fixed installation token."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def authorization(self) -> str:
        return f"token {self.token}"

    async def refused(self, authorization: str) -> None:
        raise AssertionError("the fake refused a token it issued")


@pytest.fixture
def repo(github_fake: FakeGitHub, tmp_path: Path) -> Iterator[str]:
    """octo-org/hello backed by a bare repository; the sha of its main branch."""
    github_fake.create_git_repo(REPO, tmp_path / "remotes", {"src/app.py": "def add(a, b): ..."})
    yield github_fake.branches(REPO)["main"]
    github_fake.stop_job_log_storage()


@pytest.fixture
def token(github_fake: FakeGitHub) -> str:
    return github_fake.issue_token()


@pytest.fixture
async def gh(github_fake: FakeGitHub, token: str) -> AsyncIterator[GitHubAPI]:
    """AIOS's own GitHub client acting as installation 1."""
    async with httpx2.AsyncClient() as http:
        yield GitHubClient(http, base_url=github_fake.url, auth=TokenAuth(token))


def push(github_fake: FakeGitHub, content: str) -> str:
    return github_fake.push_as("alice", REPO, "aios/1-fix", {"src/app.py": content})


async def read(gh: GitHubAPI, github_fake: FakeGitHub, sha: str) -> CIReport:
    return await read_ci(gh, REPO, sha, own_app_id=github_fake.app_id)


# -- verdicts ------------------------------------------------------------------------------------


async def test_a_commit_without_checks_has_no_verdict(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    report = await read(gh, github_fake, repo)
    assert (report.verdict, report.failed, report.pending, report.passed) == (
        CIVerdict.NONE,
        (),
        (),
        (),
    )
    assert "No checks" in report.digest()
    [listing] = github_fake.calls("GET", f"{API}/commits/{repo}/check-runs")
    assert listing.query["filter"] == "latest"


async def test_aios_own_check_run_does_not_count(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    await gh.post(
        f"{API}/check-runs",
        data={"name": "AIOS", "head_sha": repo, "status": "in_progress"},
    )
    assert (await read(gh, github_fake, repo)).verdict is CIVerdict.NONE
    # Without the App id, the name tells AIOS's run apart; another name would count.
    by_name = await read_ci(gh, REPO, repo, own_app_id=None, own_check_name="AIOS")
    assert by_name.verdict is CIVerdict.NONE
    other_name = await read_ci(gh, REPO, repo, own_app_id=None, own_check_name="Other")
    assert (other_name.verdict, other_name.pending) == (CIVerdict.PENDING, ("AIOS",))


async def test_one_passed_and_one_running_is_pending(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    github_fake.ci_result(REPO, repo, name="lint", conclusion="success", deliver=False)
    github_fake.ci_started(REPO, repo, name="tests")
    report = await read(gh, github_fake, repo)
    assert (report.verdict, report.pending, report.passed) == (
        CIVerdict.PENDING,
        ("tests",),
        ("lint",),
    )

    github_fake.ci_result(REPO, repo, name="tests", conclusion="skipped", deliver=False)
    github_fake.set_status(REPO, repo, "coverage", "success")
    report = await read(gh, github_fake, repo)
    assert report.verdict is CIVerdict.PASSED
    assert sorted(report.passed) == ["coverage", "lint", "tests"]


async def test_a_failure_is_reported_while_other_checks_still_run(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    github_fake.ci_started(REPO, repo, name="e2e", status="queued")
    github_fake.ci_result(REPO, repo, name="lint", conclusion="timed_out", deliver=False)
    report = await read(gh, github_fake, repo)
    assert (report.verdict, report.pending) == (CIVerdict.FAILED, ("e2e",))
    assert [(c.name, c.conclusion) for c in report.failed] == [("lint", "timed_out")]
    assert "Still running: `e2e`" in report.digest()


# -- what failed, and why ---------------------------------------------------------------------


@pytest.mark.parametrize("client", ["aios", "gidgethub"])
async def test_a_failure_brings_summary_annotations_and_log_but_no_token(
    github_fake: FakeGitHub, repo: str, token: str, client: str
) -> None:
    note = {**EXIT_CODE, "path": "tests/test_app.py", "start_line": 7, "end_line": 7}
    note |= {"title": "test_add", "message": "assert 4 == 5"}
    leaky = FAILING_TEST + f"2024-05-01T10:00:06.1Z debug: GITHUB_TOKEN={token}\n"
    run = github_fake.ci_result(
        REPO,
        repo,
        summary=f"1 failed, 1 passed (token {token})",
        text="See the job log.",
        annotations=[note, EXIT_CODE],
        log=leaky,
        deliver=False,
    )
    async with httpx2.AsyncClient() as http:
        gh: GitHubAPI
        if client == "aios":
            gh = GitHubClient(http, base_url=github_fake.url, auth=TokenAuth(token))
        else:
            gh = PlainGitHubAPI(http, "aios-test", base_url=github_fake.url, oauth_token=token)
        report = await read(gh, github_fake, repo)

    assert report.verdict is CIVerdict.FAILED
    [failed] = report.failed
    assert (failed.name, failed.source, failed.conclusion) == ("tests", "GitHub Actions", "failure")
    assert failed.annotations == (
        "tests/test_app.py:7: failure: test_add: assert 4 == 5",
        ".github:1: failure: Process completed with exit code 1.",
    )
    assert failed.log_tail.splitlines()[0] == "##[group]Run pytest -q"  # timestamps stripped
    assert "E       assert 4 == 5" in failed.log_tail
    assert failed.url is not None and failed.url.startswith("https://github.com/")
    digest = report.digest()
    for expected in (
        "`tests`",
        "1 failed, 1 passed",
        "See the job log.",
        "tests/test_app.py:7: failure: test_add: assert 4 == 5",
        "FAILED tests/test_app.py::test_add - assert 4 == 5",
    ):
        assert expected in digest
    assert token not in digest and token not in repr(report)
    assert "2024-05-01T10:00:05" not in digest

    # The API call carried the token; the pre-signed link was fetched without it.
    [api_call] = github_fake.calls("GET", f"{API}/actions/jobs/{run.id}/logs")
    assert (api_call.status, api_call.auth) == (302, "installation:1")
    assert api_call.operation_id == "actions/download-job-logs-for-workflow-run"
    [download] = github_fake.job_log_downloads
    assert download.status == 200 and "authorization" not in download.headers
    assert download.path == f"/_apis/pipelines/1/jobs/{run.id}/signedlogcontent"
    assert github_fake.response_mismatches() == []


async def test_a_failing_commit_status_is_a_failure(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    github_fake.set_status(REPO, repo, "ci/circleci", "pending")
    github_fake.set_status(
        REPO,
        repo,
        "ci/circleci",
        "error",
        description="Your tests failed on CircleCI",
        target_url="https://circleci.com/gh/octo-org/hello/42",
    )
    github_fake.set_status(REPO, repo, "deploy/preview", "pending")
    report = await read(gh, github_fake, repo)
    assert (report.verdict, report.pending) == (CIVerdict.FAILED, ("deploy/preview",))
    [failed] = report.failed
    assert (failed.name, failed.source, failed.conclusion, failed.summary, failed.url) == (
        "ci/circleci",
        "status",
        "error",
        "Your tests failed on CircleCI",
        "https://circleci.com/gh/octo-org/hello/42",
    )
    assert "Your tests failed on CircleCI" in report.digest()


async def test_missing_logs_leave_the_tail_empty(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    github_fake.ci_result(REPO, repo, name="build", summary="no log", deliver=False)
    expired = github_fake.ci_result(REPO, repo, name="tests", log=FAILING_TEST, deliver=False)
    github_fake.fail_next("GET", f"{API}/actions/jobs/{expired.id}/logs", 410)
    report = await read(gh, github_fake, repo)
    assert {c.name: c.log_tail for c in report.failed} == {"build": "", "tests": ""}
    calls = github_fake.calls("GET", f"{API}/actions/jobs/.*/logs")
    assert sorted(c.status for c in calls) == [404, 410]
    assert github_fake.job_log_downloads == []
    assert "no log" in report.digest()


async def test_details_are_read_only_when_asked_and_logs_only_from_actions(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    github_fake.ci_result(
        REPO, repo, name="sonar", app="sonarcloud", summary="Quality gate failed", deliver=False
    )
    github_fake.ci_result(REPO, repo, annotations=[EXIT_CODE], log=FAILING_TEST, deliver=False)
    brief = await read_ci(gh, REPO, repo, own_app_id=github_fake.app_id, with_details=False)
    assert [(c.name, c.annotations, c.log_tail) for c in brief.failed] == [
        ("tests", (), ""),
        ("sonar", (), ""),
    ]
    assert github_fake.calls("GET", rf"{API}/(check-runs|actions)/.*") == []

    full = await read(gh, github_fake, repo)
    assert {c.name: c.source for c in full.failed} == {
        "tests": "GitHub Actions",
        "sonar": "Sonarcloud",
    }
    assert len(github_fake.calls("GET", f"{API}/actions/jobs/.*/logs")) == 1  # sonar has no jobs


# -- digest and fingerprint -------------------------------------------------------------------


async def test_a_cut_digest_still_names_every_failed_check(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    noisy = "".join(f"line {n}: still going\n" for n in range(5000)) + "the last word\n"
    for name in ("unit", "integration", "lint"):
        github_fake.ci_result(
            REPO, repo, name=name, summary="S" * 3000, text="T" * 3000, log=noisy, deliver=False
        )
    github_fake.set_status(REPO, repo, "coverage", "failure", description="61 %")
    report = await read(gh, github_fake, repo)
    full = report.digest(max_chars=1_000_000)
    digest = report.digest(max_chars=2_000)
    assert len(digest) <= 2_000 < len(full)
    for name in ("unit", "integration", "lint", "coverage"):
        assert f"`{name}`" in digest
    assert "the last word" in full and "line 0:" not in full  # the tail is the log's end
    tiny = report.digest(max_chars=10)
    assert all(f"`{name}`" in tiny for name in ("unit", "integration", "lint", "coverage"))


async def test_the_same_failure_again_has_the_same_fingerprint(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    github_fake.ci_result(REPO, repo, annotations=[EXIT_CODE], log=FAILING_TEST, deliver=False)
    first = await read(gh, github_fake, repo)

    again = push(github_fake, "def add(a, b): return a - b")
    rerun = (
        FAILING_TEST.replace("2024-05-01T10:00", "2024-05-02T11:17")
        .replace("0.42s", "0.57s")
        .replace("3f9c2a1b7d", "b81e04c9aa")
        .replace("pytest-0/test_add0", "pytest-7/test_add0")
    )
    github_fake.ci_result(REPO, again, annotations=[EXIT_CODE], log=rerun, deliver=False)
    second = await read(gh, github_fake, again)
    assert first.fingerprint == second.fingerprint

    other = push(github_fake, "def add(a, b): return a * b")
    different = FAILING_TEST.replace("test_add", "test_mul").replace("4 == 5", "6 == 7")
    github_fake.ci_result(REPO, other, annotations=[EXIT_CODE], log=different, deliver=False)
    third = await read(gh, github_fake, other)
    assert third.fingerprint != first.fingerprint
    assert first.fingerprint != CIReport(repo, CIVerdict.FAILED, (), (), ()).fingerprint


def test_fingerprints_follow_annotations_not_their_line_numbers() -> None:
    def report(*notes: str, conclusion: str = "failure") -> CIReport:
        check = FailedCheck("tests", "GitHub Actions", conclusion, "", "", notes, "log", None)
        return CIReport("abc", CIVerdict.FAILED, (check,), (), ())

    moved = report("src/app.py:15: failure: assert 150 == 15")
    assert moved.fingerprint == report("src/app.py:19: failure: assert 150 == 15").fingerprint
    assert moved.fingerprint != report("src/app.py:15: failure: assert 151 == 15").fingerprint
    assert (
        moved.fingerprint
        != report("src/app.py:15: failure: assert 150 == 15", conclusion="timed_out").fingerprint
    )


async def test_a_log_tail_keeps_the_last_lines_without_timestamps(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    lines = [f"2024-01-01T00:00:00.0000000Z \x1b[31mline {n}\x1b[0m" for n in range(1000)]
    long = github_fake.ci_result(REPO, repo, log="\ufeff" + "\n".join(lines), deliver=False)
    tail = await job_log_tail(gh, REPO, long.id, [])
    assert tail.splitlines() == [f"line {n}" for n in range(1000 - LOG_TAIL_LINES, 1000)]
    broad = github_fake.ci_result(
        REPO, repo, name="lint", log=("x" * 100 + "\n") * 150, deliver=False
    )
    wide = await job_log_tail(gh, REPO, broad.id, ["x" * 20])
    assert wide and len(wide) <= LOG_TAIL_CHARS and "x" * 20 not in wide


async def test_the_fake_refuses_forged_or_expired_log_links(
    github_fake: FakeGitHub, repo: str, gh: GitHubAPI
) -> None:
    run = github_fake.ci_result(REPO, repo, log="boom\n", deliver=False)
    assert run.log_storage is not None
    fresh = run.log_storage.link(run.id)
    stale = run.log_storage.link(run.id, now=0)
    async with httpx2.AsyncClient() as http:
        assert (await http.get(fresh)).text == "boom\n"
        assert (await http.get(stale)).status_code == 403
        assert (await http.get(fresh.replace("urlSignature=", "urlSignature=0"))).status_code == 403
    assert [d.status for d in github_fake.job_log_downloads] == [200, 403, 403]
    with pytest.raises(ValueError, match="only GitHub Actions"):
        github_fake.ci_result(REPO, repo, app="circleci", log="x", deliver=False)
