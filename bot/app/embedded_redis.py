"""Run a private `redis-server` on a free loopback port when no REDIS_URL is configured."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.app.processes import die_with_parent

INSTALL_HINT = (
    "no redis-server binary found on PATH. Install one "
    "(Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) "
    "or point REDIS_URL at a Redis you run."
)
START_TIMEOUT_S = 10.0


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started; the message says what to do."""


@dataclass
class EmbeddedRedis:
    """A `redis-server` child process owned by this program.

    Data lives in `data_dir` with the append-only file on, so queued jobs survive a
    restart, and `noeviction`, so Redis refuses writes rather than dropping jobs.
    """

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def publish_address(self) -> None:
        """Write where this Redis listens to `data_dir/address`, so every other `aios`
        command run with the same AIOS_DATA_DIR finds it (its port is picked at random)."""
        path = self.data_dir / ADDRESS_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"url": self.url, "pid": self.process.pid}) + "\n")
        temporary.replace(path)  # readers see the old file or the new one, never half of one

    def stop(self, timeout: float = 10.0) -> None:
        """Ask Redis to shut down cleanly (SHUTDOWN: it fsyncs the AOF), then make sure it is
        gone."""
        (self.data_dir / ADDRESS_FILE).unlink(missing_ok=True)
        if self.process.poll() is not None:
            return
        # No retries: SHUTDOWN ends with the server closing the connection, which is success.
        client = redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        try:
            client.shutdown()
        except redis.RedisError:
            self.process.terminate()  # SIGTERM is Redis's own clean shutdown too
        finally:
            client.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> EmbeddedRedis:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


ADDRESS_FILE = "address"
"""In the embedded Redis's data directory: `{"url": …, "pid": …}` while it runs."""

AOF_REWRITE_MIN_SIZE = "512mb"
"""Redis's default (64mb) compacted the log five times in 30 s of benchmark load."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(data_dir: Path, *, port: int | None = None, appendonly: bool = True) -> EmbeddedRedis:
    """Start `redis-server` on 127.0.0.1 and wait until it answers PING.

    Raises:
        EmbeddedRedisError: when there is no binary or it does not come up.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise EmbeddedRedisError(INSTALL_HINT)
    data_dir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    # A port picked free can be taken before redis binds it; a few tries close that race.
    for _attempt in range(5):
        chosen = port or free_port()
        args = [
            binary,
            "--port", str(chosen),
            "--bind", "127.0.0.1",
            "--dir", str(data_dir.resolve()),
            "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            # A burst of deliveries grows the AOF by megabytes a second; each compaction
            # forks and rewrites the whole dataset, CPU the receiver needs on a small box.
            "--auto-aof-rewrite-min-size", AOF_REWRITE_MIN_SIZE,
            "--maxmemory-policy", "noeviction",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str((data_dir / "redis.log").resolve()),
        ]  # fmt: skip
        # Its own session: Ctrl-C in the terminal must not stop Redis under the workers;
        # the program stops it last (`stop`), or the kernel does if the program is killed.
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, start_new_session=True
        )
        if _wait_ready(process, chosen):
            return EmbeddedRedis(process=process, port=chosen, data_dir=data_dir)
        last_error = _tail(data_dir / "redis.log")
        if process.poll() is None:
            process.kill()
        process.wait()
        if port is not None:
            break
    raise EmbeddedRedisError(f"redis-server did not start: {last_error or 'no log output'}")


def _wait_ready(process: subprocess.Popen[bytes], port: int) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                # Loading the AOF answers LOADING errors until the data is back in memory.
                if client.ping():
                    return True
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.02)
        return False
    finally:
        client.close()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def discover(data_dir: Path) -> str | None:
    """The URL of the embedded Redis an `aios serve` runs with this data directory, or None.

    A file left by a server killed outright names a process that is gone: ignored.
    """
    try:
        address = json.loads((data_dir / ADDRESS_FILE).read_text())
        url, pid = str(address["url"]), int(address["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, under another user
    return url
