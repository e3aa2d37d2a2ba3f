"""Bare git repositories standing in for GitHub's git remotes: real `git`, argument lists only."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from unidiff import PatchSet

GIT_TIMEOUT_S = 20.0
# Fixed identities and no user or system config: results must not depend on the machine.
DEFAULT_AUTHOR = ("Octo Cat", "octocat@users.noreply.github.com")
KEPT_ENV = ("PATH", "SYSTEMROOT", "TMPDIR")


class GitError(RuntimeError):
    """A git command failed; the message names the command and what git said."""


class GitCommit(NamedTuple):
    sha: str
    message: str  # the full message, without the trailing newline
    author: str  # "Name <email>"


class CommitInfo(NamedTuple):
    sha: str
    tree: str
    parents: list[str]
    author: tuple[str, str, str]  # name, email, ISO 8601 date
    committer: tuple[str, str, str]
    message: str


class TreeEntry(NamedTuple):
    path: str
    type: str  # blob | tree | commit
    sha: str
    size: int  # 0 for trees and submodules
    mode: str


@dataclass(frozen=True)
class FileChange:
    """One file of a three-dot diff, with what GitHub's diff entries report."""

    filename: str
    status: str  # added | removed | modified | renamed
    additions: int
    deletions: int
    patch: str | None  # hunks only, as GitHub shows them; None for binary files
    previous_filename: str | None = None


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: os.environ[key] for key in KEPT_ENV if key in os.environ}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
        HOME=tempfile.gettempdir(),
    )
    env.update(extra or {})
    return env


def _check_ref(ref: str) -> str:
    # A leading dash would be read as an option; nothing GitHub accepts starts with one.
    if not ref or ref.startswith("-") or "\0" in ref:
        raise GitError(f"{ref!r} is not a git ref or commit")
    return ref


@dataclass(frozen=True)
class BareRepo:
    """One bare repository on disk, read and written with the `git` command."""

    path: Path

    @classmethod
    def create(
        cls,
        path: Path,
        files: Mapping[str, str],
        *,
        branch: str = "main",
        message: str = "Initial commit",
        author: tuple[str, str] = DEFAULT_AUTHOR,
    ) -> BareRepo:
        """`git init --bare` at `path` with one commit holding `files` on `branch`."""
        if path.exists() and any(path.iterdir()):
            raise GitError(f"{path} exists and is not empty; pick a fresh directory")
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        _run(["git", "init", "-q", "--bare", f"--initial-branch={branch}", "--", str(path)])
        repo.commit_files(branch, files, message=message, author=author)
        return repo

    def git(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> bytes:
        """Run `git --git-dir <path> <args>` and return stdout; GitError when it fails."""
        return _run(["git", f"--git-dir={self.path}", *args], stdin=stdin, env=env)

    # -- reading -------------------------------------------------------------------------

    def rev_parse(self, ref: str) -> str | None:
        """The commit sha `ref` (branch, tag, sha, `HEAD`…) names, or None."""
        try:
            out = self.git("rev-parse", "--verify", "--quiet", f"{_check_ref(ref)}^{{commit}}")
        except GitError:
            return None
        return out.decode().strip() or None

    def branch_sha(self, branch: str) -> str | None:
        return self.rev_parse(f"refs/heads/{branch}")

    def branches(self) -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(objectname) %(refname:lstrip=2)", "refs/heads/")
        pairs = (line.split(" ", 1) for line in out.decode().splitlines())
        return {name: sha for sha, name in pairs}

    def commits(self, ref: str, *, limit: int = 1000) -> list[GitCommit]:
        """Commits reachable from `ref`, newest first (empty when `ref` does not exist)."""
        sha = self.rev_parse(ref)
        if sha is None:
            return []
        out = self.git("log", f"--max-count={limit}", "--format=%H%x00%an <%ae>%x00%B%x1e", sha)
        commits = []
        for record in out.decode().split("\x1e"):
            if record.strip():
                commit_sha, author, message = record.lstrip("\n").split("\x00", 2)
                commits.append(GitCommit(commit_sha, message.rstrip("\n"), author))
        return commits

    def commit_info(self, ref: str) -> CommitInfo | None:
        """Tree, parents, author and committer of the commit `ref` names, or None."""
        sha = self.rev_parse(ref)
        if sha is None:
            return None
        fields = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        out = self.git("show", "-s", f"--format={fields}", sha).decode()
        sha, tree, parents, an, ae, ad, cn, ce, cd, message = out.split("\x00", 9)
        return CommitInfo(
            sha, tree, parents.split(), (an, ae, ad), (cn, ce, cd), message.rstrip("\n")
        )

    def entry(self, commit: str, path: str) -> TreeEntry | None:
        """The tree entry at `path` in `commit` (a file, a directory or a submodule), or None."""
        path = path.strip("/")
        if not path:
            return None
        entries = self._ls_tree(commit, path)
        return next((e for e in entries if e.path == path), None)

    def list_dir(self, commit: str, path: str) -> list[TreeEntry]:
        path = path.strip("/")
        return self._ls_tree(commit, f"{path}/" if path else ".")

    def read(self, commit: str, path: str) -> bytes | None:
        """The bytes of the file at `path` in `commit`, or None when there is no such file."""
        entry = self.entry(commit, path)
        if entry is None or entry.type != "blob":
            return None
        return self.git("cat-file", "blob", entry.sha)

    def _ls_tree(self, commit: str, path: str) -> list[TreeEntry]:
        try:
            out = self.git("ls-tree", "-z", "--long", _check_ref(commit), "--", path)
        except GitError:
            return []
        entries = []
        for record in out.decode().split("\0"):
            if record:
                meta, name = record.split("\t", 1)
                mode, kind, sha, size = meta.split()
                entries.append(TreeEntry(name, kind, sha, int(size) if size != "-" else 0, mode))
        return entries

    def log(self, spec: str, *, limit: int = 1000) -> list[str]:
        """Shas of `git log <spec>` (a ref, or `base..head`), newest first."""
        parts = [_check_ref(part) for part in spec.split("..")]
        out = self.git("log", f"--max-count={limit}", "--format=%H", "..".join(parts))
        return out.decode().split()

    def count_commits(self, base: str, head: str) -> int:
        """Commits on `head` that `base` does not have (a pull request's `commits`)."""
        out = self.git("rev-list", "--count", f"{_check_ref(base)}..{_check_ref(head)}")
        return int(out.decode().strip())

    def patch_set(self, base: str, head: str) -> PatchSet:
        """The three-dot diff `base...head` (what `head` changes since it left `base`), parsed."""
        span = f"{_check_ref(base)}...{_check_ref(head)}"
        raw = self.git(
            "-c", "core.quotepath=off", "diff", "--no-color", "--no-ext-diff", "-M", span
        )
        return PatchSet(raw.decode("utf-8", errors="replace"))

    def changes(self, base: str, head: str) -> list[FileChange]:
        """What `head` changes since it left `base` (GitHub's three-dot comparison)."""
        changes = []
        for patched in self.patch_set(base, head):
            if patched.is_added_file:
                status, name = "added", patched.target_file
            elif patched.is_removed_file:
                status, name = "removed", patched.source_file
            else:
                status, name = "modified", patched.target_file
            old = patched.source_file.removeprefix("a/")
            new = name.removeprefix("a/").removeprefix("b/")
            renamed = getattr(patched, "is_rename", False) and old != new
            hunks = "".join(str(hunk) for hunk in patched).rstrip("\n")
            changes.append(
                FileChange(
                    filename=new,
                    status="renamed" if renamed else status,
                    additions=patched.added,
                    deletions=patched.removed,
                    patch=None if patched.is_binary_file else hunks,
                    previous_filename=old if renamed else None,
                )
            )
        return changes

    def mergeable(self, base: str, head: str) -> bool:
        """Whether `head` merges into `base` without conflicts (git merge-tree, no worktree)."""
        try:
            self.git("merge-tree", "--write-tree", _check_ref(base), _check_ref(head))
        except GitError:
            return False
        return True

    # -- writing -------------------------------------------------------------------------

    def commit_files(
        self,
        branch: str,
        files: Mapping[str, str | bytes | None],
        *,
        message: str,
        author: tuple[str, str] = DEFAULT_AUTHOR,
        parent: str | None = None,
    ) -> str:
        """Commit `files` (None deletes a path) on top of `branch` (or `parent`); return the sha.

        A new branch starts from `parent`, else from the default branch when there is one.
        """
        check_branch(branch)
        current = self.branch_sha(branch)
        base = current or (self.rev_parse(parent) if parent else None)
        if base is None and parent is None:
            base = self.rev_parse("HEAD")
        with tempfile.TemporaryDirectory(prefix="fake-git-index-") as scratch:
            # A private index (and an empty work tree, which update-index insists on) keeps
            # the commit away from anything a concurrent push is doing.
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index"), "GIT_WORK_TREE": scratch}
            if base is not None:
                self.git("read-tree", base, env=env)
            for name, content in files.items():
                path = name.strip("/")
                if content is None:
                    self.git("update-index", "--force-remove", "--", path, env=env)
                    continue
                data = content.encode() if isinstance(content, str) else content
                blob = self.git("hash-object", "-w", "--stdin", stdin=data).decode().strip()
                self.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self.git("write-tree", env=env).decode().strip()
        sha = self._commit(tree, [base] if base else [], message, author)
        self.move_branch(branch, sha, current)
        return sha

    def merge(
        self, base: str, head: str, *, squash: bool, message: str, author: tuple[str, str]
    ) -> str | None:
        """A new commit on `base` with `head` merged in (two parents, or one when squashed).

        None when the two conflict. No branch moves: see move_branch().
        """
        try:
            out = self.git("merge-tree", "--write-tree", _check_ref(base), _check_ref(head))
        except GitError:
            return None
        tree = out.decode().split("\n", 1)[0].strip()
        return self._commit(tree, [base] if squash else [base, head], message, author)

    def delete_branch(self, branch: str) -> bool:
        """Delete `branch`; False when there is no such branch."""
        sha = self.branch_sha(branch)
        if sha is None:
            return False
        self.git("update-ref", "-d", f"refs/heads/{check_branch(branch)}", sha)
        return True

    def move_branch(self, branch: str, sha: str, expected: str | None) -> None:
        """Point `branch` at `sha` if it is still at `expected` (None: must not exist yet)."""
        # The expected old value makes a racing push fail loudly instead of being lost.
        self.git("update-ref", f"refs/heads/{check_branch(branch)}", sha, expected or "0" * 40)

    def _commit(self, tree: str, parents: list[str], message: str, author: tuple[str, str]) -> str:
        name, email = author
        who = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        links = [arg for parent in parents for arg in ("-p", parent)]
        return self.git("commit-tree", tree, *links, "-m", message, env=who).decode().strip()


def check_branch(branch: str) -> str:
    """`branch` when git accepts it as a branch name, else GitError."""
    if not branch or branch.startswith("-"):
        raise GitError(f"{branch!r} is not a valid branch name")
    try:
        _run(["git", "check-ref-format", "--branch", branch])
    except GitError as exc:
        raise GitError(f"{branch!r} is not a valid branch name") from exc
    return branch


def _run(
    argv: list[str], *, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    try:
        result = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            env=_env(env),
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"{' '.join(argv[:3])} took over {GIT_TIMEOUT_S:.0f}s") from exc
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip()[-500:]
        raise GitError(f"{' '.join(argv[1:4])} failed (exit {result.returncode}): {said}")
    return result.stdout
