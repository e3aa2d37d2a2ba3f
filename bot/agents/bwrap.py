"""Bubblewrap for the `run` sandbox: the command line that confines a command, and the self-test.

Light on purpose (standard library only): `aios doctor` imports it in every `aios` process.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.agents.fail_closed import detect_deployment, refusal

SANDBOX_UID = 1000
"""The uid and gid commands have inside the sandbox's user namespace."""
HOST_UID_RANGE = (1_000_000, 1_999_999)
"""When AIOS runs as root, bwrap itself runs as a uid drawn from here per sandbox (no passwd
entry): root's own uid would escape RLIMIT_NPROC and own every root-owned file it is shown."""
SYSTEM_DIRS = ("/usr", "/etc")
"""Bound read-only; /bin, /sbin, /lib* follow as the symlinks or directories they are here."""
TOP_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
INSTALL_HINT = "install bubblewrap (`apt-get install bubblewrap`; it provides `bwrap`)"
USERNS_HINT = (
    "let unprivileged processes create user namespaces: sysctl user.max_user_namespaces=15000 "
    "(and kernel.unprivileged_userns_clone=1 or kernel.apparmor_restrict_unprivileged_userns=0 "
    "where those exist); in Docker, run the worker with a seccomp and AppArmor profile that "
    "allows them and leaves /proc unmasked (--security-opt seccomp=unconfined --security-opt "
    "apparmor=unconfined --security-opt systempaths=unconfined)"
)
SELF_TEST_TIMEOUT_S = 30.0
SANDBOX_TMP = "/tmp"  # noqa: S108 - a fresh tmpfs of the sandbox's own, not the host's /tmp
WORK_INSIDE = "/workspace"
"""Where every work tree is inside the sandbox, whatever its path on the host: what a setup
writes with absolute paths (a venv's scripts, an editable install) works again when its cache
is restored into the next work item's work tree."""


class SandboxError(RuntimeError):
    """The sandbox cannot run commands here; the message says what to change."""


@dataclass(frozen=True)
class Isolation:
    """Whether bubblewrap works here and which host uid it runs as, found by `detect_isolation`."""

    bwrap: str | None = None
    host_uid: int | None = None
    """The uid bwrap runs as on the host: drawn when AIOS is root, else None (AIOS's own)."""
    problem: str = ""
    """Why commands are refused; empty when the self-test passed."""

    @property
    def available(self) -> bool:
        return self.bwrap is not None and not self.problem

    def describe(self) -> str:
        if not self.available:
            return f"UNAVAILABLE, commands are refused: {self.problem}"
        host = self.host_uid if self.host_uid is not None else os.geteuid()
        return (
            "bubblewrap: network cut, own pid namespace and /proc, git directory read-only, "
            f"uid {SANDBOX_UID} (host uid {host})"
        )

    def refusal(self) -> str:
        """What the `run` tool answers when commands cannot be confined here: the problem, the
        fix for where AIOS runs (Docker, Fly.io, a host…) and the operator's opt-in."""
        return refusal(self.problem, detect_deployment())


@dataclass(frozen=True)
class Confinement:
    """What one command may see and use: the paths bound into the sandbox and its limits."""

    work_tree: Path
    home: Path
    git_dir: Path | None = None
    cpu_s: int = 600
    memory_bytes: int = 4 << 30
    max_processes: int = 256
    max_file_bytes: int = 512 << 20
    tmp_bytes: int = 512 << 20
    egress_socket: Path | None = None
    """The egress proxy's Unix socket, bound read-only at `inside` (connecting needs no write)."""
    egress_socket_inside: str = ""


def bwrap_argv(
    isolation: Isolation, box: Confinement, command: Sequence[str], *, info_fd: int | None = None
) -> list[str]:
    """The argument list that runs `command` confined: namespaces, binds, uid, then limits."""
    if isolation.bwrap is None:
        raise SandboxError(f"bubblewrap is not installed: {INSTALL_HINT}")
    argv: list[str] = []
    if isolation.host_uid is not None:
        uid = str(isolation.host_uid)
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        argv += ["--no-new-privs", "--"]
    argv += [isolation.bwrap, "--unshare-all", "--unshare-user", "--disable-userns"]
    argv += ["--die-with-parent", "--new-session", "--as-pid-1", "--hostname", "aios-sandbox"]
    argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    for top in SYSTEM_DIRS:
        argv += ["--ro-bind", top, top]
    for top in TOP_LINKS:
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    # /tmp first: the home and the work tree are usually below it and are bound on top.
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(box.tmp_bytes), "--tmpfs", SANDBOX_TMP]
    work, home = str(box.work_tree), str(box.home)
    argv += ["--bind", home, home, "--bind", work, WORK_INSIDE]
    dotgit = box.work_tree / ".git"
    if box.git_dir is not None:
        argv += ["--ro-bind", str(box.git_dir), str(box.git_dir)]
    if dotgit.is_file() or dotgit.is_dir():
        # The `gitdir:` file (or a plain .git directory): nothing inside may redirect git.
        argv += ["--ro-bind", str(dotgit), f"{WORK_INSIDE}/.git"]
    if box.egress_socket is not None:
        argv += ["--ro-bind", str(box.egress_socket), box.egress_socket_inside]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    argv += ["--chdir", WORK_INSIDE, "--"]
    return argv + prlimit_argv(box, command)


def prlimit_argv(box: Confinement, command: Sequence[str], prlimit: str = "prlimit") -> list[str]:
    """`command` under the confinement's limits: CPU time, address space, file size,
    processes, no core dumps."""
    return [
        prlimit,
        f"--cpu={box.cpu_s}",
        f"--as={box.memory_bytes}",
        f"--fsize={box.max_file_bytes}",
        f"--nproc={box.max_processes}",
        "--core=0",
        "--",
        *command,
    ]


def detect_isolation() -> Isolation:
    """Find bwrap and prove it confines a command here; `problem` says why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Isolation(problem=f"bubblewrap is not installed: {INSTALL_HINT}")
    host_uid = None
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            return Isolation(
                bwrap, problem="AIOS runs as root and needs `setpriv` (util-linux) to drop it"
            )
        host_uid = draw_host_uid()
    isolation = Isolation(bwrap, host_uid)
    problem = self_test(isolation)
    return Isolation(bwrap, host_uid, problem) if problem else isolation


@functools.cache
def isolation_here() -> Isolation:
    """`detect_isolation()` once per process (it forks a sandbox): for what is asked often and
    changes only with the machine, such as the warning in every progress comment."""
    return detect_isolation()


def draw_host_uid() -> int:
    """A fresh unprivileged host uid for one sandbox's commands when AIOS runs as root."""
    return secrets.SystemRandom().randint(*HOST_UID_RANGE)


def self_test(isolation: Isolation) -> str:
    """Run one confined command the way every command runs; '' when it worked, else why not."""
    root = Path(tempfile.mkdtemp(prefix="aios-sandbox-selftest-"))
    try:
        # Traversable by the sandbox's host uid, not listable.
        root.chmod(0o711)
        box = Confinement(work_tree=root / "work", home=root / "home")
        for path in (box.work_tree, box.home):
            path.mkdir()
            if isolation.host_uid is not None:
                os.chown(path, isolation.host_uid, isolation.host_uid)
        # Its own uid, its own pid namespace (the command is pid 1), no network device but lo.
        probe = (
            f'test "$(id -u)" = {SANDBOX_UID} && test "$$" = 1 '
            '&& test "$(grep -c : /proc/net/dev)" = 1'
        )
        try:
            done = subprocess.run(
                bwrap_argv(isolation, box, ["/bin/sh", "-c", f"{probe} && echo confined"]),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=SELF_TEST_TIMEOUT_S,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap did not start a sandbox ({exc}): {USERNS_HINT}"
        if done.returncode != 0 or done.stdout.strip() != "confined":
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            detail = said[-1] if said else f"exit {done.returncode}, the probe found no isolation"
            if "nknown option" in detail:
                return f"this bubblewrap is too old ({detail}): install bubblewrap 0.8 or newer"
            return f"bubblewrap cannot build a sandbox here ({detail}): {USERNS_HINT}"
        return ""
    finally:
        shutil.rmtree(root, ignore_errors=True)
