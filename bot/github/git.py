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
    # Hooks and fsmonitor would run commands found in the repository's .git on our behalf.
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "credential.helper=",
)


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


async def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    stdin: bytes | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    secrets: Iterable[str] = (),
    check: bool = True,
) -> GitResult:
    """`git [hardening] ARGS` in `cwd`; raises GitError (redacted) on failure when `check`."""
    argv = ["git", *HARDENING, *args]
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
