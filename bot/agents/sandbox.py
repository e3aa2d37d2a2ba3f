"""Run an agent's command confined: scrubbed env, limits, no network, own uid, killed at the end.

Layers, outermost first (each argument lists, no shell of ours):
  prlimit (CPU, address space, file size, processes, no core)
  → unshare --net --pid --fork --kill-child --mount-proc (when the machine allows it)
  → setpriv to an unprivileged uid (when AIOS runs as root: RLIMIT_NPROC does not bind root)
  → /bin/sh -c COMMAND, in the workspace, with only allow-listed environment variables.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM")
"""Passed through from the worker's environment; HOME and TMPDIR point into the sandbox."""
_SECRETISH = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|REDIS_URL|DATABASE_URL|DSN", re.I
)
SANDBOX_UID_RANGE = (1_000_000, 1_999_999)
"""Unprivileged uids drawn per sandbox when running as root; none has a passwd entry."""
_UNSHARE_ROOT = (
    ("--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
    ("--net",),
)
_UNSHARE_USER = (
    ("--user", "--map-current-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
    ("--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
    ("--user", "--map-root-user", "--net"),
)
DRAIN_AFTER_EXIT_S = 3.0
"""How long output is still read after the command ended, for pipes held by escaped processes."""


class SandboxError(RuntimeError):
    """The sandbox cannot run commands here; the message says what to change."""


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 300.0
    cpu_s: int = 600
    memory_bytes: int = 4 << 30
    max_processes: int = 256
    max_file_bytes: int = 512 << 20
    max_output_bytes: int = 64 << 10


@dataclass(frozen=True)
class Isolation:
    """What this machine lets the sandbox do, detected once by `detect_isolation`."""

    unshare_args: tuple[str, ...] = ()
    uid: int | None = None
    note: str = ""

    @property
    def network_cut(self) -> bool:
        return "--net" in self.unshare_args

    @property
    def pid_namespace(self) -> bool:
        return "--pid" in self.unshare_args

    def describe(self) -> str:
        parts = ["network cut" if self.network_cut else "network NOT cut"]
        if self.pid_namespace:
            parts.append("own pid namespace")
        parts.append(
            f"uid {self.uid}" if self.uid is not None else f"uid {os.geteuid()} (unchanged)"
        )
        return ", ".join(parts) + (f" ({self.note})" if self.note else "")


def _probe(args: tuple[str, ...]) -> bool:
    try:
        done = subprocess.run(
            ["unshare", *args, "--", "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def detect_isolation(*, uid: int | None = None) -> Isolation:
    """Probe which namespaces work here and which uid commands will run as."""
    root = os.geteuid() == 0
    run_as: int | None = None
    notes = []
    if root:
        if shutil.which("setpriv") is None:
            raise SandboxError(
                "running as root needs `setpriv` (util-linux) to drop to a sandbox uid"
            )
        run_as = uid if uid is not None else secrets.SystemRandom().randint(*SANDBOX_UID_RANGE)
    if shutil.which("unshare") is None:
        return Isolation((), run_as, "unshare is not installed; network is not cut")
    for args in _UNSHARE_ROOT if root else _UNSHARE_USER:
        if _probe(args):
            if "--pid" not in args:
                notes.append("no pid namespace")
            return Isolation(args, run_as, "; ".join(notes))
    return Isolation((), run_as, "namespaces are not permitted here; network is not cut")


@dataclass(frozen=True)
class RunResult:
    command: str
    exit_code: int | None
    output: str
    timed_out: bool
    truncated_bytes: int
    total_bytes: int
    duration_s: float
    timeout_s: float

    def for_model(self) -> str:
        """The text an agent sees: status line, notes, output."""
        if self.timed_out:
            status = f"killed: exceeded the {self.timeout_s:g} s time limit"
        elif self.exit_code is not None and self.exit_code < 0:
            status = f"killed by signal {signal.Signals(-self.exit_code).name}"
        else:
            status = f"exit code {self.exit_code}"
        lines = [f"$ {self.command}", f"[{status}; {self.duration_s:.1f} s]"]
        if self.truncated_bytes:
            lines.append(
                f"[output truncated: {self.total_bytes:,} bytes in all, {self.truncated_bytes:,} "
                "bytes cut from the middle; narrow the command (grep, tail, -q) to see less]"
            )
        lines.append(self.output if self.output else "(no output)")
        return "\n".join(lines)


class _Capture:
    """Keeps the first and the last `cap // 2` bytes of a stream of any length."""

    def __init__(self, cap: int) -> None:
        self.half = max(cap // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 4 * self.half:
                del self.tail[: -self.half]

    def text(self) -> tuple[str, int]:
        tail = bytes(self.tail[-self.half :])
        cut = self.total - len(self.head) - len(tail)
        if cut > 0:
            body = self.head + f"\n[… {cut:,} bytes omitted …]\n".encode() + tail
        else:
            body = self.head + tail
        return body.decode("utf-8", errors="replace"), max(cut, 0)


def scrubbed_env(
    home: Path, *, environ: Mapping[str, str] | None = None, allow: Iterable[str] = ()
) -> dict[str, str]:
    """The sandbox environment: allow-listed names only, never anything that looks secret."""
    source = os.environ if environ is None else environ
    env = {
        name: source[name]
        for name in (*ENV_ALLOW, *allow)
        if name in source and not _SECRETISH.search(name)
    }
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    # No __pycache__ litter in the work tree: AIOS commits what the work tree holds.
    env.update(
        HOME=str(home), TMPDIR=str(home / "tmp"), AIOS_SANDBOX="1", PYTHONDONTWRITEBYTECODE="1"
    )
    return env


def _make_undumpable() -> None:
    """Same-uid processes cannot read a non-dumpable process's /proc/PID/environ or memory."""
    PR_SET_DUMPABLE = 4
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


class Sandbox:
    """Runs commands in one workspace. Create one per agent run; `close()` removes its home."""

    def __init__(
        self,
        workspace: Path,
        *,
        limits: SandboxLimits | None = None,
        isolation: Isolation | None = None,
        home: Path | None = None,
        env_allow: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.limits = limits or SandboxLimits()
        self.isolation = isolation if isolation is not None else detect_isolation()
        self._own_home = home is None
        self.home = Path(home) if home else Path(tempfile.mkdtemp(prefix="aios-sandbox-home-"))
        self._env_allow = tuple(env_allow)
        self._environ = environ
        if self.isolation.uid is None:
            _make_undumpable()

    def close(self) -> None:
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    async def run(self, command: str, *, timeout_s: float | None = None) -> RunResult:
        """Run `command` with `/bin/sh -c` inside the sandbox and return its capped output."""
        timeout = min(timeout_s or self.limits.timeout_s, self.limits.timeout_s)
        self._prepare()
        argv = self._argv(command)
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workspace,
            env=scrubbed_env(self.home, environ=self._environ, allow=self._env_allow),
            start_new_session=True,
        )
        capture = _Capture(self.limits.max_output_bytes)
        reader = asyncio.create_task(self._read(proc, capture))
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
        finally:
            self._kill(proc.pid)
            await proc.wait()
        try:
            await asyncio.wait_for(reader, DRAIN_AFTER_EXIT_S)
        except TimeoutError:
            log.warning("sandbox.output_still_open", command=command[:200])
        output, cut = capture.text()
        return RunResult(
            command=command,
            exit_code=proc.returncode,
            output=output,
            timed_out=timed_out,
            truncated_bytes=cut,
            total_bytes=capture.total,
            duration_s=time.monotonic() - started,
            timeout_s=timeout,
        )

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process, capture: _Capture) -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(1 << 16):
            capture.feed(chunk)

    def _argv(self, command: str) -> list[str]:
        lim = self.limits
        nproc = lim.max_processes
        if self.isolation.uid is None:
            # Without a uid of its own, RLIMIT_NPROC counts every task of the worker's uid.
            nproc += _tasks_of_uid(os.getuid())
        argv = [
            "prlimit",
            f"--cpu={lim.cpu_s}",
            f"--as={lim.memory_bytes}",
            f"--fsize={lim.max_file_bytes}",
            f"--nproc={nproc}",
            "--core=0",
            "--",
        ]
        if self.isolation.unshare_args:
            argv += ["unshare", *self.isolation.unshare_args, "--"]
        if self.isolation.uid is not None:
            uid = str(self.isolation.uid)
            argv += [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--no-new-privs",
                "--",
            ]
        return [*argv, "/bin/sh", "-c", command]

    def _prepare(self) -> None:
        """Make the home; when dropping root, give the work tree (not `.git`) to the sandbox uid."""
        (self.home / "tmp").mkdir(parents=True, exist_ok=True)
        uid = self.isolation.uid
        if uid is None:
            return
        for parent in self.workspace.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                raise SandboxError(
                    f"the sandbox uid cannot reach the workspace: {parent} is not traversable "
                    "by others; create workspaces under a directory with mode 0711 or wider"
                )
        gitconfig = self.home / ".gitconfig"
        gitconfig.write_text(f"[safe]\n\tdirectory = {self.workspace}\n")
        for path in (self.home, self.home / "tmp"):
            os.chown(path, uid, uid)
            path.chmod(0o700)
        # The top stays root's with the sticky bit, so the sandbox can add files but cannot
        # swap `.git` for one with hooks or config that AIOS's own git calls would obey.
        os.chown(self.workspace, 0, 0)
        self.workspace.chmod(0o1777)
        for dirpath, dirnames, filenames in os.walk(self.workspace):
            if ".git" in dirnames:
                dirnames.remove(".git")
            for name in (*dirnames, *filenames):
                path = os.path.join(dirpath, name)
                if os.lstat(path).st_uid != uid:
                    os.lchown(path, uid, uid)

    def _kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        uid = self.isolation.uid
        if uid is not None and not self.isolation.pid_namespace:
            # Processes that left the group (setsid) still carry the sandbox uid.
            for other in _pids_of_uid(uid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(other, signal.SIGKILL)


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
    return pids


def _tasks_of_uid(uid: int) -> int:
    """Tasks (threads) the uid runs now: RLIMIT_NPROC counts them all."""
    total = 0
    for pid in _pids_of_uid(uid):
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{pid}/task"))
    return total
