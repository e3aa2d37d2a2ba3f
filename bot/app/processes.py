"""Child processes that never outlive the program that started them."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

from bot.settings import secrets_handoff


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """In a child: ask Linux to send us `sig` when our parent dies, even by SIGKILL.

    Without it, `kill -9` of `aios serve` would leave workers and redis-server running, and
    a killed worker would leave its work horse running the agent it had started.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, sig)


def spawn_aios(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    own_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a child `aios` process that gets this process's secrets through an inherited
    descriptor, never through its environment (which /proc/<pid>/environ shows).

    `own_session`: the child leads a session of its own, out of reach of the terminal's
    Ctrl-C, so it stops when its parent says (in order), not when the keyboard does.
    Pair it with `die_with_parent`, or it would outlive a parent killed outright.
    """
    extra, fd = secrets_handoff()
    child_env = {**(os.environ if env is None else env), **extra}
    try:
        return subprocess.Popen(
            list(argv),
            env=child_env,
            preexec_fn=preexec_fn,
            pass_fds=() if fd is None else (fd,),
            start_new_session=own_session,
        )
    finally:
        if fd is not None:
            os.close(fd)
