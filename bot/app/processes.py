"""Child processes that never outlive the program that started them."""

from __future__ import annotations

import ctypes
import signal
import sys


def die_with_parent() -> None:
    """In a child before exec: ask Linux to SIGTERM us if our parent dies, even by SIGKILL.

    Without it, `kill -9` of `aios serve` would leave workers and redis-server running.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
