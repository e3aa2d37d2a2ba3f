"""A per-job git checkout: clone at a ref, branch `aios/<issue>-<slug>`, commit as the App, push.

Layout: `<root>/repo` is the work tree (agents' commands write there), `<root>/git` the git
directory, outside it. Every git call names both, and checks first that the git directory's
configuration is still what AIOS's own calls left, so nothing written by a command run in
the work tree (a filter, a hook, fsmonitor, an include) is ever obeyed by AIOS's git.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from bot.github.git import DIFF_HARDENING, GitError, GitResult, auth_env, base_env, run_git
from bot.github.push_guard import PushPolicy, check_push
from bot.redact import redact
from bot.workitem.names import BRANCH_PREFIX, branch_name

log = structlog.get_logger(__name__)

DEFAULT_BOT_NAME = "aios[bot]"
DEFAULT_BOT_EMAIL = "aios[bot]@users.noreply.github.com"
REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
WORK_TREE_NAME = "repo"
GIT_DIR_NAME = "git"
CONFIG_FILES = ("config", "config.worktree", "commondir")
"""The files of a git directory that tell git what to run and where; checked before each call."""


def git_dir_of(work_tree: Path) -> Path | None:
    """The git directory of `work_tree`: `<root>/git` beside a workspace's `<root>/repo`, or a
    `.git` directory inside it. Never read from a `.git` file, which the work tree controls."""
    beside = work_tree.parent / GIT_DIR_NAME
    if work_tree.name == WORK_TREE_NAME and (beside / "HEAD").is_file():
        return beside
    inside = work_tree / ".git"
    return inside if inside.is_dir() and not inside.is_symlink() else None


def config_digest(git_dir: Path) -> str:
    """A hash of the git directory's configuration files (a missing file counts too)."""
    digest = hashlib.sha256()
    for name in CONFIG_FILES:
        try:
            data = (git_dir / name).read_bytes()
        except FileNotFoundError:
            data = b"\0missing"
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


class WorkspaceError(RuntimeError):
    """A request the workspace refuses (bad name, foreign branch, secret in a commit)."""


@dataclass
class Workspace:
    """One job's checkout. `root` (removed by `cleanup`) holds the work tree at `path` and,
    beside it, the git directory at `git_dir`."""

    root: Path
    path: Path
    git_dir: Path
    remote_url: str
    base_branch: str
    git_base_url: str
    bot_name: str = DEFAULT_BOT_NAME
    bot_email: str = DEFAULT_BOT_EMAIL
    branch: str | None = None
    commands: list[list[str]] = field(default_factory=list)
    """Every git argument list run, for audit (tokens never appear in them)."""
    _token: str | None = field(default=None, repr=False)
    _created: set[str] = field(default_factory=set)
    _config_digest: str | None = field(default=None, repr=False)

    # -- construction ------------------------------------------------------------------

    @classmethod
    async def clone(
        cls,
        repo: str,
        *,
        git_base_url: str,
        token: str | None = None,
        ref: str | None = None,
        parent: Path | None = None,
        depth: int | None = 50,
        bot_name: str = DEFAULT_BOT_NAME,
        bot_email: str = DEFAULT_BOT_EMAIL,
    ) -> Workspace:
        """Clone `owner/name` from `git_base_url` (https://github.com, or file:///… in tests)."""
        if not REPO_NAME.match(repo) or ".." in repo:
            raise WorkspaceError(f"{repo!r} is not a repository name of the form owner/name")
        base = git_base_url.rstrip("/")
        return await cls.clone_url(
            f"{base}/{repo}.git",
            git_base_url=base,
            token=token,
            ref=ref,
            parent=parent,
            depth=depth,
            bot_name=bot_name,
            bot_email=bot_email,
        )

    @classmethod
    async def clone_url(
        cls,
        url: str,
        *,
        git_base_url: str | None = None,
        token: str | None = None,
        ref: str | None = None,
        parent: Path | None = None,
        depth: int | None = 50,
        bot_name: str = DEFAULT_BOT_NAME,
        bot_email: str = DEFAULT_BOT_EMAIL,
    ) -> Workspace:
        if url.startswith("-"):
            raise WorkspaceError(f"{url!r} is not a repository URL")
        root = Path(tempfile.mkdtemp(prefix="aios-job-", dir=parent))
        # Traversable (not listable) by others: the sandbox's unprivileged uid works inside.
        os.chmod(root, 0o711)  # noqa: S103 - execute only, no listing
        ws = cls(
            root=root,
            path=root / WORK_TREE_NAME,
            git_dir=root / GIT_DIR_NAME,
            remote_url=url,
            base_branch="",
            git_base_url=git_base_url or url,
            bot_name=bot_name,
            bot_email=bot_email,
            _token=token,
        )
        try:
            await ws._git(
                "init", "-q", f"--separate-git-dir={ws.git_dir}", "--", str(ws.path), cwd=root
            )
            ws.base_branch = ref or await ws._default_branch()
            await ws._fetch(ws.base_branch, depth)
            if SHA.match(ws.base_branch):
                await ws._git("checkout", "-q", "--detach", ws.base_branch)
            else:
                await ws._git(
                    "checkout", "-q", "-B", ws.base_branch, f"refs/remotes/origin/{ws.base_branch}"
                )
        except BaseException:
            ws.cleanup()
            raise
        return ws

    # -- git plumbing ------------------------------------------------------------------

    def _env(self, *, auth: bool) -> dict[str, str]:
        env = base_env(self.root)
        if auth and self._token and self.remote_url.startswith(("http://", "https://")):
            env.update(auth_env(self.git_base_url, self._token))
        return env

    def _secrets(self) -> tuple[str, ...]:
        return (self._token,) if self._token else ()

    async def _git(
        self,
        *args: str,
        cwd: Path | None = None,
        auth: bool = False,
        stdin: bytes | None = None,
        check: bool = True,
    ) -> GitResult:
        """Run git on this workspace's git directory and work tree, named explicitly; refuse
        when the git directory's configuration changed since AIOS's previous call."""
        initialising = self._config_digest is None
        if not initialising and config_digest(self.git_dir) != self._config_digest:
            raise WorkspaceError(
                f"refusing to run git: the configuration in {self.git_dir} changed since "
                "AIOS's last git call; something other than AIOS wrote to the git directory, "
                "so this workspace is not trusted"
            )
        self.commands.append(list(args))
        result = await run_git(
            args,
            cwd=cwd or self.path,
            env=self._env(auth=auth),
            git_dir=None if initialising else self.git_dir,
            work_tree=None if initialising else self.path,
            stdin=stdin,
            secrets=self._secrets(),
            check=check,
        )
        self._config_digest = config_digest(self.git_dir)
        return result

    async def _default_branch(self) -> str:
        out = (
            await self._git("ls-remote", "--symref", "--", self.remote_url, "HEAD", auth=True)
        ).stdout
        match = re.search(r"^ref: refs/heads/(\S+)\s+HEAD$", out, re.M)
        if match:
            return match.group(1)
        heads = (await self._git("ls-remote", "--heads", "--", self.remote_url, auth=True)).stdout
        names = [
            line.split("refs/heads/", 1)[1] for line in heads.splitlines() if "refs/heads/" in line
        ]
        if len(names) == 1:
            return names[0]
        raise WorkspaceError(
            f"cannot tell the default branch of {redact(self.remote_url)}; pass ref"
        )

    async def _check_branch(self, name: str) -> None:
        if SHA.match(name):
            return
        ok = (
            await self._git("check-ref-format", f"refs/heads/{name}", check=False)
        ).returncode == 0
        if not ok or name.startswith("-") or "/-" in name:
            raise WorkspaceError(f"{name!r} is not a valid branch name")

    async def _fetch(self, ref: str, depth: int | None) -> None:
        await self._check_branch(ref)
        spec = ref if SHA.match(ref) else f"+refs/heads/{ref}:refs/remotes/origin/{ref}"
        shallow = [f"--depth={depth}"] if depth else []
        await self._git(
            "fetch", "-q", "--no-tags", *shallow, "--", self.remote_url, spec, auth=True
        )

    async def _remote_has(self, branch: str) -> bool:
        out = await self._git(
            "ls-remote", "--heads", "--", self.remote_url, f"refs/heads/{branch}", auth=True
        )
        return bool(out.stdout.strip())

    # -- the job's operations ----------------------------------------------------------

    async def start_branch(self, issue: int, title: str, *, name: str | None = None) -> str:
        """Create (or, on a re-run, resume) AIOS's branch for an issue and check it out."""
        branch = name or branch_name(issue, title)
        if not branch.startswith(BRANCH_PREFIX):
            raise WorkspaceError(f"{branch!r}: AIOS only works on branches under {BRANCH_PREFIX}")
        await self._check_branch(branch)
        if await self._remote_has(branch):
            await self._fetch(branch, 50)
            await self._git("checkout", "-q", "-B", branch, f"refs/remotes/origin/{branch}")
        else:
            await self._git("checkout", "-q", "-b", branch)
        self.branch = branch
        self._created.add(branch)
        return branch

    async def commit(
        self, message: str, *, agent: str, secrets: tuple[str, ...] = ()
    ) -> str | None:
        """Stage everything and commit as the App's bot, naming the acting agent.

        Returns the new commit's sha, or None when there was nothing to commit.
        Raises WorkspaceError if a known secret value appears in the staged changes.
        """
        await self._git("add", "-A", "--", ".")
        staged = await self._git("diff", "--cached", "--quiet", *DIFF_HARDENING, check=False)
        if staged.returncode == 0:
            return None
        known = tuple(s for s in (*self._secrets(), *secrets) if s)
        if known:
            diff = (await self._git("diff", "--cached", "--no-color", *DIFF_HARDENING)).stdout
            if any(s in diff for s in known):
                await self._git("reset", "-q")
                raise WorkspaceError("refusing to commit: the changes contain a secret value")
        body = redact(message.strip() or "AIOS changes", known)
        text = f"{body}\n\nAIOS-Agent: {agent}\n"
        await self._git(
            "-c",
            f"user.name={self.bot_name}",
            "-c",
            f"user.email={self.bot_email}",
            "commit",
            "-q",
            "--no-verify",
            "-F",
            "-",
            stdin=text.encode(),
        )
        return (await self._git("rev-parse", "HEAD")).stdout.strip()

    async def push(self, *, policy: PushPolicy, secrets: tuple[str, ...] = ()) -> None:
        """Push the current AIOS branch (fast-forward only) once the push guard passed it.

        Raises PushRefused (nothing pushed) when the outgoing commits carry a secret or
        change a path `policy` protects; WorkspaceError when the push itself fails.
        """
        branch = self.branch
        if branch is None or branch not in self._created or not branch.startswith(BRANCH_PREFIX):
            raise WorkspaceError("refusing to push: AIOS pushes only to branches it created")
        patch, messages, paths = await self._outgoing()
        known = (*self._secrets(), *secrets)
        check_push(
            branch, patch=patch, messages=messages, paths=paths, policy=policy, secrets=known
        )
        try:
            await self._git(
                "push", "-q", "--", self.remote_url, f"HEAD:refs/heads/{branch}", auth=True
            )
        except GitError as exc:
            raise WorkspaceError(f"push of {branch} failed: {exc}") from None
        # What the remote has now: the next push checks only the commits after these.
        await self._git("update-ref", f"refs/remotes/origin/{branch}", "HEAD")
        log.info("workspace.pushed", branch=branch)

    async def _outgoing(self) -> tuple[str, str, list[str]]:
        """The commits a push would send (those no fetched ref has) and what they change."""
        new = ("HEAD", "--not", "--remotes=origin")
        plain = ("--no-color", *DIFF_HARDENING, "--no-renames")
        patch = await self._git("log", "-p", *plain, "--format=commit %H", *new)
        messages = await self._git("log", "--format=%B", *new)
        touched = await self._git("log", "--format=", "--name-only", "-z", *plain, *new)
        paths = [p for p in touched.stdout.replace("\n", "\0").split("\0") if p]
        base = (
            self.base_branch
            if SHA.match(self.base_branch)
            else f"refs/remotes/origin/{self.base_branch}"
        )
        # The diff against the base as the pull request will show it; a base whose merge base
        # is past the shallow history leaves the commits' own paths to go by.
        against = await self._git(
            "diff",
            "--name-only",
            "-z",
            *DIFF_HARDENING,
            "--no-renames",
            f"{base}...HEAD",
            "--",
            check=False,
        )
        if against.returncode == 0:
            paths += [p for p in against.stdout.split("\0") if p]
        return patch.stdout, messages.stdout, paths

    async def diff_from(self, base: str, head: str = "HEAD") -> str:
        """The pull-request diff of `head` against branch `base`: changes since their merge
        base, as GitHub shows it (`base...head`, renames detected)."""
        await self._fetch(base, 50)
        ref = f"refs/remotes/origin/{base}"
        found = await self._git("merge-base", ref, head, check=False)
        shallow = await self._git("rev-parse", "--is-shallow-repository")
        if found.returncode != 0 and shallow.stdout.strip() == "true":
            # Shallow history hides the merge base: fetch the whole history of both sides.
            names = dict.fromkeys(n for n in (base, self.base_branch, self.branch) if n)
            specs = [f"+refs/heads/{n}:refs/remotes/origin/{n}" for n in names if not SHA.match(n)]
            await self._git(
                "fetch", "-q", "--no-tags", "--unshallow", "--", self.remote_url, *specs, auth=True
            )
        args = ("diff", "--no-color", *DIFF_HARDENING, "-M", f"{ref}...{head}", "--")
        return (await self._git(*args)).stdout

    async def fetch_untrusted(self, url: str, branch: str) -> str:
        """Fetch `branch` of another repository (a fork) without credentials and without
        checking it out: its commits can be diffed, its code is never on disk to run.
        Returns the fetched commit's sha."""
        await self._check_branch(branch)
        if url.startswith("-") or not url:
            raise WorkspaceError(f"{url!r} is not a repository URL")
        await self._git("fetch", "-q", "--no-tags", "--depth=50", "--", url, f"refs/heads/{branch}")
        return (await self._git("rev-parse", "FETCH_HEAD")).stdout.strip()

    async def head(self) -> str:
        return (await self._git("rev-parse", "HEAD")).stdout.strip()

    async def status_entries(self) -> list[str]:
        """`git status --porcelain=v1 -z` entries against HEAD (untracked files, no renames)."""
        result = await self._git(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"
        )
        return [entry for entry in result.stdout.split("\0") if entry]

    async def discard_changes(self) -> None:
        """Put the work tree back to HEAD: changes reset, untracked files removed."""
        await self._git("reset", "-q", "--hard", "HEAD")
        await self._git("clean", "-q", "-f", "-d")

    async def changed_files(self) -> list[str]:
        """Paths changed in the work tree or committed since the base, relative to the root."""
        base = (
            f"refs/remotes/origin/{self.base_branch}"
            if not SHA.match(self.base_branch)
            else self.base_branch
        )
        committed = (
            await self._git("diff", "--name-only", "-z", *DIFF_HARDENING, base, "HEAD", "--")
        ).stdout
        status = (await self._git("status", "--porcelain", "-z", "--untracked-files=all")).stdout
        names = {n for n in committed.split("\0") if n}
        names.update(entry[3:] for entry in status.split("\0") if len(entry) > 3)
        return sorted(names)

    def exclude(self, paths: Iterable[str]) -> None:
        """Keep `paths` (a set-up environment: `.venv`, `node_modules`) out of every commit,
        snapshot and clean, through the git directory the sandbox cannot write."""
        lines = [f"/{path.strip('/')}\n" for path in paths if path.strip("/")]
        if lines:
            (self.git_dir / "info").mkdir(exist_ok=True)
            with (self.git_dir / "info" / "exclude").open("a", encoding="utf-8") as handle:
                handle.writelines(lines)

    async def base_commit(self) -> str:
        """The commit the work started from: the base branch as fetched."""
        ref = self.base_branch
        if not SHA.match(ref):
            ref = f"refs/remotes/origin/{ref}"
        return (await self._git("rev-parse", "--verify", f"{ref}^{{commit}}")).stdout.strip()

    async def export(self, rev: str, dest: Path) -> None:
        """The files of commit `rev` (no git directory) into the new directory `dest`."""
        archive = self.root / f"export-{rev[:12]}.tar"
        await self._git("archive", "--format=tar", f"--output={archive}", rev)
        try:
            done = await asyncio.create_subprocess_exec(
                "tar", "-x", "--no-same-owner", "--one-top-level=" + str(dest), "-f", str(archive)
            )
            if await done.wait() != 0:
                raise WorkspaceError(f"could not unpack commit {rev[:12]} for a test run")
        finally:
            archive.unlink(missing_ok=True)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    async def __aenter__(self) -> Workspace:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cleanup()
