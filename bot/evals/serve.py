"""A real `aios serve` for one eval task: its own data dir, port and embedded Redis."""

from __future__ import annotations

import asyncio
import ctypes
import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis
import redis.asyncio
from rq.exceptions import NoSuchJobError
from rq.job import Job

from bot.agents.ledger import RedisLedger, Totals
from bot.app import embedded_redis
from bot.app.embedded_redis import free_port
from bot.runtime.queues import ENDED, job_key
from bot.settings import SECRET_VARIABLES, SECRETS_FD_VARIABLE
from bot.workitem.item import WorkItem
from bot.workitem.store import ITEM_KEY, item_key

START_TIMEOUT_S = 90.0
"""Workers preload every job module before they register: slow on a busy 2-core machine."""
WRITE_SPACING_S = "0.05"
"""The local GitHub has no secondary rate limit: writes are paced 20 times faster than
GitHub asks, as the end-to-end tests do."""
INHERITED_OUT = ("REDIS_URL", "AIOS_ENV", "AIOS_DATA_DIR", "AIOS_MODEL", "AIOS_MODELS", "PORT")
"""Settings of the user's own deployment that must not leak into the eval's server."""


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the forked child: SIGTERM when `aios eval` dies, even by SIGKILL, so a killed eval
    leaves no server, workers or Redis behind. prctl is looked up before the fork: the child
    of a threaded process (`--jobs`) only makes the one foreign call."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


SERVE = (sys.executable, "-m", "bot.cli", "serve")


class ServeError(RuntimeError):
    """`aios serve` did not start; the message holds the end of its log."""


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path
    _redis_url: str | None = field(default=None, init=False, repr=False)
    _redis: redis.Redis | None = field(default=None, init=False, repr=False)
    """A client of the server's embedded Redis, once it has been found: the maintainers poll
    every item ten times a second."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/readyz")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def item(self, repo: str, number: int) -> WorkItem | None:
        """The work item as the server stored it in its embedded Redis (None before it exists)."""
        client = self._client()
        if client is None:
            return None
        try:
            raw = client.get(ITEM_KEY.format(key=item_key(repo, number)))
        except redis.RedisError:
            return None
        return None if raw is None else WorkItem.from_dict(json.loads(raw))

    def learned(self, item: WorkItem) -> bool:
        """Whether the job that learns from the item's pull request has ended (False before
        it is queued): the distiller's call is part of what the issue cost."""
        client = self._client()
        if client is None or item.pr_number is None:
            return False
        try:
            job = Job.fetch(job_key("learn", item.key, item.pr_number), connection=client)
            return job.get_status() in ENDED
        except (NoSuchJobError, redis.RedisError):
            return False

    def usage(self, repo: str, number: int) -> Totals:
        """The work item's model calls, tokens by kind and cost, from the server's ledger: the
        same counts `/aios cost` and the budgets use, whichever model answered."""
        url = self._url()
        return Totals() if url is None else asyncio.run(_item_usage(url, item_key(repo, number)))

    def close(self) -> None:
        """Close the client of the embedded Redis (before the server stops it)."""
        if self._redis is not None:
            self._redis.close()
            self._redis = None

    def _url(self) -> str | None:
        """The embedded Redis's URL, read from its data directory once it is there."""
        if self._redis_url is None:
            self._redis_url = embedded_redis.discover(self.data_dir / "redis")
        return self._redis_url

    def _client(self) -> redis.Redis | None:
        if self._redis is None:
            url = self._url()
            if url is None:
                return None
            self._redis = redis.Redis.from_url(url)
        return self._redis


async def _item_usage(url: str, work_item: str) -> Totals:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return await RedisLedger(client).work_item(work_item)
    except redis.RedisError:
        return Totals()
    finally:
        await client.aclose()


def passable(path: Path) -> None:
    """Let other uids pass through every directory down to `path`: the sandbox's uid works
    in the workspaces under the data directory, and temporary directories are closed."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(directory, mode | stat.S_IXOTH)


def spawn(
    workdir: Path, settings: Mapping[str, str], secrets: Mapping[str, str], *, workers: int = 1
) -> Serve:
    """Start `aios serve --workers N` in `workdir` and wait until its workers are ready.

    `settings` are environment variables; `secrets` reach the child through an inherited
    descriptor (as `aios` hands them to its own children), never through its environment.

    Raises:
        ServeError: it exited or was not ready in time (with its log's tail).
    """
    passable(workdir)
    data_dir = workdir / "data"
    port = free_port()
    log = workdir / "serve.log"
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in INHERITED_OUT and key not in SECRET_VARIABLES
    }
    environ.update({"AIOS_DATA_DIR": str(data_dir), "AIOS_GITHUB_WRITE_SPACING_S": WRITE_SPACING_S})
    environ.update(settings)
    fd = os.memfd_create("aios-eval-secrets", os.MFD_CLOEXEC)
    try:
        os.write(fd, json.dumps(dict(secrets)).encode())
        environ[SECRETS_FD_VARIABLE] = str(fd)
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*SERVE, "--port", str(port), "--workers", str(workers)],
                env=environ,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                pass_fds=(fd,),
                preexec_fn=_die_with_parent,
            )
    finally:
        os.close(fd)
    serve = Serve(process, port, data_dir, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not serve.ready():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(serve)
            raise ServeError(f"aios serve did not become ready:\n{serve.log_tail()}")
        time.sleep(0.1)
    return serve


def stop(serve: Serve) -> None:
    """Stop serve: its workers and Redis in order. A second SIGTERM, as a second Ctrl-C,
    ends a running agent at once (the run is over: no step is worth finishing)."""
    serve.close()
    for signal_, grace_s in ((serve.process.terminate, 0.5), (serve.process.terminate, 15.0)):
        if serve.process.poll() is not None:
            return
        signal_()
        try:
            serve.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            continue
    if serve.process.poll() is None:
        serve.process.kill()
        serve.process.wait(10)
