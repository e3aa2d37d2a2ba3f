"""Run git safely: argument lists, a minimal environment, timeouts, and the token only in env."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from bot.redact import redact

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_S = 300.0
HARDENING = (
    # Nothing found in a repository may run a program on AIOS's behalf: no hooks, no
    # fsmonitor, no pager or editor, no ssh command, no signing program, no submodule
    # recursion, no background gc; no attributes or excludes from the user's config files.
    # (Filter, textconv and diff drivers live in the git directory's config, which AIOS
    # verifies before every call: see Workspace.)
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.attributesFile=/dev/null",
    "-c",
    "core.excludesFile=/dev/null",
    "-c",
    "core.pager=cat",
    "-c",
    "core.editor=false",
    "-c",
    "core.sshCommand=ssh",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "submodule.recurse=false",
    "-c",
    "fetch.recurseSubmodules=false",
    "-c",
    "push.recurseSubmodules=no",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "credential.helper=",
)
DIFF_HARDENING = ("--no-ext-diff", "--no-textconv")
"""For every `git diff` that renders a patch: no external diff program, no textconv filter."""


class GitError(RuntimeError):
    """A git command failed; the message holds the (redacted) command and git's own words."""

    def __init__(self, args: Sequence[str], returncode: int | None, stderr: str) -> None:
        self.args_ = list(args)
        self.returncode = returncode
        self.stderr = stderr
        shown = " ".join(args[:6]) + (" …" if len(args) > 6 else "")
        status = "timed out" if returncode is None else f"exit {returncode}"
        super().__init__(f"git {shown} failed ({status}): {stderr.strip()[:2000]}")


@dataclass(frozen=True)
class GitResult:
    stdout: str
    stderr: str
    returncode: int


def base_env(home: Path) -> dict[str, str]:
    """No system or user git config, no prompts: only what AIOS passes in applies."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
    }


def auth_env(git_base_url: str, token: str) -> dict[str, str]:
    """An `http.<base>/.extraheader` carrying the token, via GIT_CONFIG_* environment variables,
    so it never appears on a command line, in a URL or in `.git/config`, and is only sent to
    the configured git host."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{git_base_url.rstrip('/')}/.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }


def git_argv(args: Sequence[str], *, git_dir: Path | None, work_tree: Path | None) -> list[str]:
    """`git --git-dir=… --work-tree=… [hardening] ARGS`: the repository is named, never
    discovered through a work tree's `.git`, which whatever ran in the work tree could rewrite."""
    named = [f"--git-dir={git_dir}"] if git_dir is not None else []
    named += [f"--work-tree={work_tree}"] if work_tree is not None else []
    return ["git", *named, *HARDENING, *args]


async def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    git_dir: Path | None = None,
    work_tree: Path | None = None,
    stdin: bytes | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    secrets: Iterable[str] = (),
    check: bool = True,
) -> GitResult:
    """`git [repository] [hardening] ARGS` in `cwd`; raises GitError (redacted) on failure
    when `check`. Pass `git_dir` and `work_tree` for every call on a repository."""
    argv = git_argv(args, git_dir=git_dir, work_tree=work_tree)
    secret_list = tuple(secrets)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise GitError(args, None, f"no answer within {timeout_s:g} s") from None
    result = GitResult(
        out.decode("utf-8", errors="replace"),
        redact(err.decode("utf-8", errors="replace"), secret_list),
        proc.returncode if proc.returncode is not None else -1,
    )
    log.debug("git", args=[redact(a, secret_list) for a in args], returncode=result.returncode)
    if check and result.returncode != 0:
        raise GitError([redact(a, secret_list) for a in args], result.returncode, result.stderr)
    return result
