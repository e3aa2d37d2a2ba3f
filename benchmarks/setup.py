"""Benchmark: environment setup in the sandbox, and the egress proxy's cost on a download.

Run: `.venv/bin/python benchmarks/setup.py`. Each measurement has a baseline from the same run
on the same machine, and prints medians:

- download: a generated 50 MB file served over HTTP from the host's 127.0.0.1, fetched by the
  same downloader (curl, and Python's urllib from /usr/bin/python3) directly on the host and
  inside the bubblewrap sandbox through the egress proxy (`allow_hosts=["127.0.0.1:PORT"]`:
  the relay inside, the Unix socket, the proxy outside). The downloader times the transfer
  itself, so the sandbox's start is not counted. Target: the proxy under 10 % slower.
  Direct and proxied runs alternate, so a busy moment of the machine hits both alike.
  Twice: unpaced (the loopback runs at memory speed, so the CPU is the limit and every hop
  shows) and with the server paced to a 100 MB/s link (a fast registry: the network is the
  limit, as it is for a real download).
- cold setup: a project whose requirements.txt names 10 packages (wheels built by
  `bot/testbed/package_index.py`, served from the loopback index): `python3 -m venv .venv`
  and `pip install -r requirements.txt` with no pip cache, inside the sandbox through the
  proxy, against the same commands run directly on the host.
- warm setup: the same project set up by AIOS's setup runner (`bot.environment.setup`) in a
  fresh work tree each time: the first run installs and keeps `.venv` in the setup cache, the
  next ones restore it (keyed by requirements.txt). Baseline: the first, cold, run.

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bot.agents.sandbox import Sandbox, SandboxLimits  # noqa: E402
from bot.environment.cache import SetupCache  # noqa: E402
from bot.environment.disk import DiskBudget  # noqa: E402
from bot.environment.plan import EnvironmentPlan  # noqa: E402
from bot.environment.setup import run_setup  # noqa: E402
from bot.testbed.package_index import PackageIndex, build_wheel  # noqa: E402

SIZE = 50_000_000
OVERHEAD_TARGET = 0.10
"""The proxy may make a download at most this much slower than a direct one."""
LINK_MB_S = 100
"""The paced rows: a registry reached at this rate, the network (not the CPU) the limit."""
PACE_CHUNK = 1 << 20
DEPENDENCIES = 10
PYTHON = "/usr/bin/python3"
"""The interpreter the sandbox sees (its /usr is the host's), so both sides run the same."""
HOST_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
"""The host side's environment: no proxy variable, no pip configuration from the caller."""
URLLIB = """
import sys, time, urllib.request
start = time.perf_counter()
size = 0
with urllib.request.urlopen(sys.argv[1], timeout=120) as answer:
    while chunk := answer.read(1 << 20):
        size += len(chunk)
print("BENCH", size, time.perf_counter() - start)
"""
DOWNLOADERS = {
    "curl": "curl -s -o /dev/null -w 'BENCH %{{size_download}} %{{time_total}}\\n' {url}",
    "urllib": f"{PYTHON} -c {shlex.quote(URLLIB)} {{url}}",
}
SETUP = (
    "t0=$(date +%s.%N) && {python} -m venv .venv && t1=$(date +%s.%N) && "
    ".venv/bin/pip install -q --no-cache-dir --disable-pip-version-check --no-input "
    "--index-url {index} -r requirements.txt && t2=$(date +%s.%N) && "
    ".venv/bin/python -c 'import {modules}' && echo BENCH $t0 $t1 $t2"
)


@dataclass(frozen=True)
class Row:
    what: str
    figure: str
    baseline: str
    target: str = ""
    missed: bool = False


# -- the machinery -----------------------------------------------------------------------


@contextmanager
def workspace() -> Iterator[Path]:
    """A work tree the sandbox's uid can reach (not under a 0700 directory), removed after."""
    root = Path(tempfile.mkdtemp(prefix="aios-bench-setup-"))
    root.chmod(0o711)
    (root / "repo").mkdir()
    try:
        yield root / "repo"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def file_server(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 from a thread; yields its origin."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = directory / self.path.partition("?")[0].lstrip("/")
            if path.parent != directory or not path.is_file():
                self.send_error(404)
                return
            size = path.stat().st_size
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            rate = float(self.path.partition("?rate=")[2] or 0) * 1e6
            start = time.perf_counter()
            with path.open("rb") as body:
                # The kernel copies the file: the server costs both sides the same, little.
                for offset in range(0, size, PACE_CHUNK):
                    if rate:  # a link of `rate` MB/s: each chunk leaves on its schedule
                        time.sleep(max(0.0, start + offset / rate - time.perf_counter()))
                    self.connection.sendfile(body, offset, PACE_CHUNK)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def on_host(command: str, cwd: Path) -> str:
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=HOST_ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[:80]}… failed on the host:\n{done.stdout}{done.stderr}")
    return done.stdout


def in_sandbox(box: Sandbox, command: str, allow: str) -> str:
    done = asyncio.run(box.run(command, allow_hosts=[allow]))
    if done.exit_code != 0:
        raise RuntimeError(f"{command[:80]}… failed in the sandbox:\n{done.output}")
    return done.output


def bench_line(output: str) -> list[float]:
    """The numbers of the `BENCH …` line a command printed."""
    for line in output.splitlines():
        if line.startswith("BENCH "):
            return [float(field) for field in line.split()[1:]]
    raise RuntimeError(f"no BENCH line in:\n{output[-2000:]}")


# -- the measurements --------------------------------------------------------------------


def proxy_overhead(downloader: str, repeat: int, link_mb_s: int = 0) -> Row:
    """Median transfer time of the 50 MB file: direct on the host vs through the proxy.

    `link_mb_s` paces the server (0: as fast as the loopback and the CPU go)."""
    with workspace() as work, file_server(work.parent) as origin:
        (work.parent / "payload.bin").write_bytes(os.urandom(SIZE))
        url = f"{origin}/payload.bin" + (f"?rate={link_mb_s}" if link_mb_s else "")
        command = DOWNLOADERS[downloader].format(url=shlex.quote(url))
        allow = origin.removeprefix("http://")
        box = Sandbox(work, limits=SandboxLimits(timeout_s=300.0))
        direct, proxied = [], []
        try:
            for _ in range(repeat):
                size, seconds = bench_line(on_host(command, work))
                assert size == SIZE, size
                direct.append(seconds)
                size, seconds = bench_line(in_sandbox(box, command, allow))
                assert size == SIZE, size
                proxied.append(seconds)
        finally:
            box.close()
    fast, slow = statistics.median(direct), statistics.median(proxied)
    overhead = slow / fast - 1
    link = f", {link_mb_s} MB/s link" if link_mb_s else ", loopback"
    return Row(
        what=f"50 MB download{link}, {downloader}, proxy (median of {repeat})",
        figure=f"{SIZE / slow / 1e6:,.0f} MB/s, {overhead:+.1%}",
        baseline=f"{SIZE / fast / 1e6:,.0f} MB/s direct",
        target=f"< {OVERHEAD_TARGET:.0%} slower",
        missed=overhead > OVERHEAD_TARGET,
    )


def project(work: Path, wheels: Path) -> list[str]:
    """A project with DEPENDENCIES requirements, each a wheel built into `wheels`."""
    modules = [f"bench_dep{i:02d}" for i in range(DEPENDENCIES)]
    for i, module in enumerate(modules):
        source = f'"""Dependency {i} of the setup benchmark."""\n\nVALUE = {i}\n' + "#\n" * 200
        build_wheel(wheels, module.replace("_", "-"), f"1.{i}", {f"{module}.py": source})
    (work / "requirements.txt").write_text("".join(f"{m.replace('_', '-')}\n" for m in modules))
    return modules


def cold_setup(repeat: int) -> list[Row]:
    """A fresh venv and `pip install -r requirements.txt` from the loopback index, no cache."""
    with tempfile.TemporaryDirectory(prefix="aios-bench-wheels-") as wheels_dir:
        wheels = Path(wheels_dir)
        with workspace() as work, PackageIndex(wheels) as index:
            modules = project(work, wheels)
            command = SETUP.format(python=PYTHON, index=index.url, modules=", ".join(modules))
            box = Sandbox(work, limits=SandboxLimits(timeout_s=600.0))
            direct: list[list[float]] = []
            sandboxed: list[list[float]] = []
            try:
                for _ in range(repeat):
                    direct.append(_timed(lambda: on_host(command, work), work))
                    sandboxed.append(
                        _timed(lambda: in_sandbox(box, command, index.host_port), work)
                    )
            finally:
                box.close()
            assert index.file_requests() == 2 * repeat * DEPENDENCIES
    rows = []
    for label, column in (("venv", 0), ("pip install", 1), ("whole run", 2)):
        fast = statistics.median(d[column] for d in direct)
        slow = statistics.median(s[column] for s in sandboxed)
        rows.append(
            Row(
                what=f"cold setup, {DEPENDENCIES} deps: {label} (median of {repeat})",
                figure=f"{slow:.2f} s in the sandbox",
                baseline=f"{fast:.2f} s on the host",
            )
        )
    return rows


def warm_setup(repeat: int) -> list[Row]:
    """AIOS's setup runner: one cold run that fills the cache, then `repeat` warm ones."""
    with tempfile.TemporaryDirectory(prefix="aios-bench-warm-") as scratch:
        root = Path(scratch)
        root.chmod(0o711)  # the sandbox's uid reaches the work trees below
        wheels = root / "wheels"
        wheels.mkdir()
        with PackageIndex(wheels) as index:
            modules = project(root, wheels)
            install = (
                f".venv/bin/pip install -q --no-cache-dir --disable-pip-version-check "
                f"--index-url {index.url} -r requirements.txt"
            )
            plan = EnvironmentPlan(
                setup=(f"{PYTHON} -m venv .venv", install),
                setup_hosts=(index.host_port,),
                cache=(".venv",),
                lock_files=("requirements.txt",),
            )
            cache = SetupCache(DiskBudget(root / "data", 10 << 30, 0))
            times = []
            for run in range(repeat + 1):
                work = root / f"work-{run}"
                work.mkdir()
                shutil.copy(root / "requirements.txt", work / "requirements.txt")
                box = Sandbox(work, limits=SandboxLimits(timeout_s=600.0))
                try:
                    start = time.perf_counter()
                    outcome = asyncio.run(run_setup(box, plan, repo="bench/setup", cache=cache))
                    times.append(time.perf_counter() - start)
                finally:
                    box.close()
                assert outcome.ok and outcome.cache_hit == (run > 0), outcome.how
                check = [f"{work}/.venv/bin/python", "-c", f"import {', '.join(modules)}"]
                subprocess.run(check, check=True, capture_output=True)
            assert index.file_requests() == DEPENDENCIES  # installed once, restored after
    cold, warm = times[0], statistics.median(times[1:])
    return [
        Row(
            what=f"warm setup, {DEPENDENCIES} deps, AIOS's runner (median of {repeat})",
            figure=f"{warm:.2f} s from the cache",
            baseline=f"{cold:.2f} s cold",
        )
    ]


def _timed(run: Callable[[], str], work: Path) -> list[float]:
    """[venv s, pip install s, whole run s (sandbox start included)] of one cold setup."""
    shutil.rmtree(work / ".venv", ignore_errors=True)
    start = time.perf_counter()
    t0, t1, t2 = bench_line(run())
    whole = time.perf_counter() - start
    shutil.rmtree(work / ".venv", ignore_errors=True)
    return [t1 - t0, t2 - t1, whole]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="downloads per side")
    parser.add_argument("--setup-repeat", type=int, default=3, help="cold setups per side")
    parser.add_argument("--skip-setup", action="store_true", help="the downloads only")
    args = parser.parse_args()
    rows = [proxy_overhead(name, args.repeat) for name in DOWNLOADERS]
    rows += [proxy_overhead(name, args.repeat, LINK_MB_S) for name in DOWNLOADERS]
    if not args.skip_setup:
        rows += cold_setup(args.setup_repeat)
        rows += warm_setup(args.setup_repeat)
    width = max(len(r.what) for r in rows)
    print(f"{'measurement':<{width}}  {'figure':>28}  {'baseline (same run)':>22}  target")
    for r in rows:
        verdict = f"{r.target}: {'MISSED' if r.missed else 'met'}" if r.target else ""
        print(f"{r.what:<{width}}  {r.figure:>28}  {r.baseline:>22}  {verdict}")
    return 1 if any(r.missed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
