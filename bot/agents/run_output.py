"""A command's captured output and the text an agent sees of it, sandboxed or not."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

DRAIN_AFTER_EXIT_S = 3.0
"""How long output is still read after the command ended (every writer is dead by then)."""


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
    pid_namespace: int | None = None
    """The inode of the pid namespace the command ran in; every process of it is gone."""

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


class Capture:
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


async def read_into(proc: asyncio.subprocess.Process, capture: Capture) -> None:
    """Feed the process's stdout to `capture` until every writer has closed it."""
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(1 << 16):
        capture.feed(chunk)


async def collect(
    command: str,
    proc: asyncio.subprocess.Process,
    reader: asyncio.Task[None],
    capture: Capture,
    *,
    started: float,
    timed_out: bool,
    timeout_s: float,
    pid_namespace: int | None = None,
) -> RunResult:
    """The result of an ended command, once its output is read (or `DRAIN_AFTER_EXIT_S` on:
    a pipe some escaped process holds open must not hang the run)."""
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
        timeout_s=timeout_s,
        pid_namespace=pid_namespace,
    )
