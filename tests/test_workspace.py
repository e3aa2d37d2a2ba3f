"""The git workspace against bare repositories: clone, branch, commit, push, and no token leaks."""

from __future__ import annotations

import base64
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.github.git import GitError
from bot.github.push_guard import PushPolicy
from bot.github.workspace import Workspace, WorkspaceError
from bot.workitem.names import branch_name

TOKEN = "ghs_WorkspaceTestToken0123456789abcdefghij"


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def seed_remote(base: Path, repo: str = "acme/widgets", files: dict[str, str] | None = None) -> str:
    """A bare repository at `base/<repo>.git` with one commit on `main`; returns the base URL."""
    bare = base / f"{repo}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "--bare", "-b", "main", str(bare))
    seed = base / f"seed-{repo.replace('/', '-')}"
    git("init", "-q", "-b", "main", str(seed))
    ident = ("-c", "user.name=seed", "-c", "user.email=seed@example.com")
    git(*ident, "commit", "-q", "--allow-empty", "-m", "start", cwd=seed)
    for name, text in (files or {"README.md": "# widgets\n", "app.py": "print('hi')\n"}).items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(text)
    git("add", "-A", cwd=seed)
    git(*ident, "commit", "-qm", "initial", cwd=seed)
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=seed)
    return base.as_uri()


@pytest.fixture
def remote(tmp_path: Path) -> str:
    return seed_remote(tmp_path / "remotes")


@pytest.fixture
async def workspace(remote: str) -> Iterator[Workspace]:
    ws = await Workspace.clone("acme/widgets", git_base_url=remote, token=TOKEN)
    yield ws
    ws.cleanup()


def test_branch_names_are_slugged() -> None:
    assert branch_name(42, "Add pagination to GET /users!") == "aios/42-add-pagination-to-get-users"
    assert branch_name(7, "$(rm -rf /); `id`") == "aios/7-rm-rf-id"
    assert branch_name(8, "???") == "aios/8-issue"  # one slug for branches everywhere


async def test_clone_branch_commit_push_round_trip(
    workspace: Workspace, remote: str, tmp_path: Path
) -> None:
    assert workspace.base_branch == "main"
    assert (workspace.path / "app.py").read_text() == "print('hi')\n"
    assert (workspace.root.stat().st_mode & 0o777) == 0o711
    branch = await workspace.start_branch(42, "Add pagination")
    (workspace.path / "app.py").write_text("print('paged')\n")
    (workspace.path / "docs").mkdir()
    (workspace.path / "docs" / "pages.md").write_text("pages\n")
    assert await workspace.changed_files() == ["app.py", "docs/pages.md"]
    sha = await workspace.commit("Paginate the users list", agent="🛠️ Bea (Backend)")
    await workspace.push(policy=PushPolicy())
    bare = tmp_path / "remotes" / "acme" / "widgets.git"
    assert git("rev-parse", f"refs/heads/{branch}", cwd=bare).strip() == sha
    log = git("log", "-1", "--format=%an <%ae>%n%B", branch, cwd=bare)
    assert log.startswith("aios[bot] <aios[bot]@users.noreply.github.com>\nPaginate the users list")
    assert "AIOS-Agent: 🛠️ Bea (Backend)" in log
    assert git("show", f"{branch}:docs/pages.md", cwd=bare) == "pages\n"
    assert await workspace.commit("nothing new", agent="x") is None
    assert git("rev-parse", "refs/heads/main", cwd=bare).strip() != sha


async def test_clone_is_shallow_and_has_no_remote_in_its_config(remote: str) -> None:
    ws = await Workspace.clone("acme/widgets", git_base_url=remote, depth=1)
    try:
        assert git("rev-parse", "--is-shallow-repository", cwd=ws.path).strip() == "true"
        assert git("rev-list", "--count", "HEAD", cwd=ws.path).strip() == "1"
        assert "[remote" not in (ws.git_dir / "config").read_text()
    finally:
        ws.cleanup()


async def test_a_rerun_resumes_the_branch_it_pushed(workspace: Workspace, remote: str) -> None:
    branch = await workspace.start_branch(5, "Resume me")
    (workspace.path / "one.txt").write_text("1\n")
    first = await workspace.commit("one", agent="a")
    await workspace.push(policy=PushPolicy())
    again = await Workspace.clone("acme/widgets", git_base_url=remote, token=TOKEN)
    try:
        assert await again.start_branch(5, "Resume me") == branch
        assert await again.head() == first
        (again.path / "two.txt").write_text("2\n")
        await again.commit("two", agent="a")
        await again.push(policy=PushPolicy())  # a fast-forward of its own branch
    finally:
        again.cleanup()


async def test_push_only_to_branches_aios_created(workspace: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="only to branches it created"):
        await workspace.push(policy=PushPolicy())  # still on main
    with pytest.raises(WorkspaceError, match="only works on branches under aios/"):
        await workspace.start_branch(1, "x", name="main")


async def test_token_never_lands_in_config_arguments_or_logs(remote: str) -> None:
    with capture_logs() as logs:
        ws = await Workspace.clone("acme/widgets", git_base_url=remote, token=TOKEN)
        await ws.start_branch(9, "Leak check")
        (ws.path / "f.txt").write_text("x\n")
        await ws.commit("f", agent="a")
        await ws.push(policy=PushPolicy())
    try:
        assert TOKEN not in (ws.git_dir / "config").read_text()
        assert all(TOKEN not in arg for args in ws.commands for arg in args)
        assert TOKEN not in repr(logs) and TOKEN not in repr(ws)
        assert logs, "git calls are logged"
    finally:
        ws.cleanup()


async def test_secret_values_are_refused_in_a_commit(workspace: Workspace) -> None:
    await workspace.start_branch(3, "Secrets")
    (workspace.path / "config.py").write_text(f"TOKEN = '{TOKEN}'\n")
    with pytest.raises(WorkspaceError, match="contain a secret"):
        await workspace.commit("oops", agent="a")
    (workspace.path / "config.py").write_text("TOKEN = os.environ['TOKEN']\n")
    assert await workspace.commit("fine", agent="a")


class _RecordingGitServer(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(403)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_remote() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    seen: list[tuple[str, str | None]] = []
    handler = type("Handler", (_RecordingGitServer,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


async def test_the_token_reaches_the_git_host_as_an_extra_header_only(
    http_remote: tuple[str, list[tuple[str, str | None]]],
) -> None:
    url, seen = http_remote
    with capture_logs() as logs, pytest.raises(GitError) as caught:
        await Workspace.clone("acme/widgets", git_base_url=url, token=TOKEN)
    path, header = seen[0]
    assert path.startswith("/acme/widgets.git/info/refs")
    assert header == "basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert TOKEN not in str(caught.value) and TOKEN not in repr(logs)


@pytest.mark.parametrize(
    "name",
    [
        "--upload-pack=touch /tmp/aios-pwned",
        "aios/$(touch /tmp/aios-pwned)",
        "aios/;rm -rf x",
        "aios/-x",
        "aios/a..b",
    ],
)
async def test_malicious_branch_names_are_refused(workspace: Workspace, name: str) -> None:
    with pytest.raises(WorkspaceError):
        await workspace.start_branch(1, "x", name=name)
    assert not Path("/tmp/aios-pwned").exists()


@pytest.mark.parametrize(
    "repo", ["--upload-pack=touch /tmp/aios-pwned/x", "acme/../etc", "acme/w;id", "$(id)/x"]
)
async def test_malicious_repository_names_are_refused(remote: str, repo: str) -> None:
    with pytest.raises(WorkspaceError, match="owner/name"):
        await Workspace.clone(repo, git_base_url=remote)


async def test_malicious_refs_and_file_names_execute_nothing(tmp_path: Path, remote: str) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(WorkspaceError, match="not a valid branch name"):
        await Workspace.clone(
            "acme/widgets", git_base_url=remote, ref=f"--upload-pack=touch {marker}"
        )
    ws = await Workspace.clone("acme/widgets", git_base_url=remote)
    try:
        await ws.start_branch(11, "Odd names")
        names = [
            f"--upload-pack=touch {marker}",
            f"$(touch {marker})",
            f";rm -rf {tmp_path}",
            "-rf",
        ]
        for name in names:
            (ws.path / name.replace("/", "_")).write_text("data\n")
        await ws.commit("odd names", agent="a")
        await ws.push(policy=PushPolicy())
        tree = git(
            "ls-tree",
            "--name-only",
            ws.branch or "",
            cwd=tmp_path / "remotes" / "acme" / "widgets.git",
        )
        for name in names:
            assert name.replace("/", "_") in tree.splitlines()
    finally:
        ws.cleanup()
    assert not marker.exists() and tmp_path.exists()


def push_commits(remote: str, branch: str, count: int, *, start: str = "main") -> None:
    """`count` commits on `branch` (cut from `start`), each changing its own file."""
    bare = Path(remote.removeprefix("file://")) / "acme/widgets.git"
    work = bare.parent / f"work-{branch.replace('/', '-')}"
    git("clone", "-q", "-b", start, str(bare), str(work))
    git("checkout", "-q", "-B", branch, cwd=work)
    ident = ("-c", "user.name=dev", "-c", "user.email=dev@example.com")
    for n in range(count):
        (work / f"{branch.replace('/', '-')}-{n}.txt").write_text(f"{n}\n")
        git("add", "-A", cwd=work)
        git(*ident, "commit", "-qm", f"{branch} {n}", cwd=work)
    git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=work)


async def test_the_pr_diff_is_against_the_merge_base_even_past_the_shallow_history(
    remote: str,
) -> None:
    push_commits(remote, "feature", 1)
    push_commits(remote, "main", 60)  # the base moved on: 60 commits hide the merge base
    ws = await Workspace.clone("acme/widgets", git_base_url=remote, token=TOKEN, ref="feature")
    try:
        diff = await ws.diff_from("main")
    finally:
        ws.cleanup()
    assert any("--unshallow" in command for command in ws.commands)
    assert "+++ b/feature-0.txt" in diff
    assert "main-" not in diff  # the base's own commits are not the PR's changes


async def test_a_forks_branch_is_diffed_without_being_checked_out(
    remote: str, tmp_path: Path
) -> None:
    fork = seed_remote(tmp_path / "forks", files={"README.md": "# widgets\n"})
    fork_bare = Path(fork.removeprefix("file://")) / "acme/widgets.git"
    # The fork shares the base's history, then adds a script that must never run.
    git("fetch", "-q", str(Path(remote.removeprefix("file://")) / "acme/widgets.git"),
        "+refs/heads/main:refs/heads/main", cwd=fork_bare)  # fmt: skip
    seed = tmp_path / "fork-work"
    git("clone", "-q", str(fork_bare), str(seed))
    git("checkout", "-q", "-b", "evil", cwd=seed)
    (seed / "Makefile").write_text("all:\n\ttouch /tmp/pwned\n")
    git("add", "-A", cwd=seed)
    git("-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "evil", cwd=seed)
    git("push", "-q", "origin", "HEAD:refs/heads/evil", cwd=seed)

    ws = await Workspace.clone("acme/widgets", git_base_url=remote, token=TOKEN, ref="main")
    try:
        head = await ws.fetch_untrusted(fork_bare.as_uri(), "evil")
        diff = await ws.diff_from("main", head)
        assert not (ws.path / "Makefile").exists()  # the work tree stays at the base
        fetch = next(c for c in ws.commands if c[0] == "fetch" and fork_bare.as_uri() in c)
        with pytest.raises(WorkspaceError):
            await ws.fetch_untrusted("--upload-pack=touch /tmp/x", "evil")
    finally:
        ws.cleanup()
    assert "+++ b/Makefile" in diff
    assert TOKEN not in " ".join(fetch)
