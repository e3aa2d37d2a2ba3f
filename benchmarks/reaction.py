"""Reaction latency: webhook POST of a labeled issue → 👀 and the first progress comment on GitHub.

Runs the real `aios serve` (embedded Redis, 1 worker, default settings) against the shared
GitHub fake in this process, labels 50 different issues `aios`, each by a user with write
permission, and times from the moment each signed `issues.labeled` delivery is POSTed:

  (a) the 👀 reaction appearing on the issue, and
  (b) the work item's progress comment appearing on the issue.

Modes: `sequential` (item k+1 is sent once (a) and (b) of item k are seen, so the numbers
are latency, not queueing) and `burst` (all items POSTed at once, queueing included).
A bare `GET /healthz` on the same server is the baseline (the fixed cost of a round trip).
Targets, judged on the sequential mode: p50 < 200 ms and p95 < 500 ms for (a) and for (b).
Afterwards every issue must carry exactly one 👀 and one progress comment, and every
request AIOS made must match GitHub's REST description. Exit status 1 when anything fails.

What a maintainer meets is an installation whose GitHub write budget is full (AIOS paces
mutating requests per installation: a burst of 4, then one per second), a cached token and
an uncached permission check (cached 5 min; people label issues minutes apart). So the items
are spread over `--installations` repositories, each its own installation, an installation
gets its next item only once its write budget has refilled, each item has its own sender,
and one unmeasured item per installation warms the token cache. `--installations 1 --burst`
shows the pacing itself (about one write per second: 50 items take ~100 s).

    python benchmarks/reaction.py [--sequential | --burst] [--items 50] [--installations 10]
                                  [--trace]

`--trace` runs the server with LOG_LEVEL=DEBUG and LOG_FORMAT=json (not the defaults) and
prints the timeline of the median sequential item from the server's log lines.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bot.embedded_redis import free_port  # noqa: E402
from tests.fakes import app_events, webhooks  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.github_dispatch import Recorded  # noqa: E402
from tests.fakes.openapi import OpenAPIChecker  # noqa: E402

AIOS = REPO_ROOT / ".venv" / "bin" / "aios"
LABEL = "aios"
WARM_UP_SENDER = "alice"
TARGET_P50_MS = 200.0
TARGET_P95_MS = 500.0
WRITE_REFILL_S = 2.0 + 0.1
"""An item makes two writes; AIOS's pacer refills one per second (bot/github/client.py)."""
POLL_S = 0.001
START_TIMEOUT_S = 30.0
ITEM_TIMEOUT_S = 20.0
QUIET_S = 1.0
"""After a mode, the fake must see no request for this long before the idempotency check."""
ISSUE_PATH = re.compile(r"/repos/([^/]+/[^/]+)/issues/(\d+)/(reactions|comments)")
REPO_PATH = re.compile(r"/repos/[^/]+/[^/]+/")
TRACE_NOISE = re.compile(
    r'"logger": "(httpcore2?\.|rq\.scheduler)|heartbeat|maintenance notifications'
)
WORKER_NAME = re.compile(r"^Worker [^:]+: ")


@dataclass
class Target:
    """One repository, installed on its own account: the pacer's scope is the installation."""

    installation_id: int
    repo: str
    ready_at: float = 0.0  # when its write budget is full again


@dataclass
class Item:
    """One labeled issue: when its delivery was sent and answered, and when AIOS reacted."""

    target: Target
    number: int
    body: bytes
    headers: dict[str, str]
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    eyes: float | None = None
    comment: float | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.target.repo.lower(), self.number)

    @property
    def done(self) -> bool:
        return self.eyes is not None and self.comment is not None


# -- measuring ----------------------------------------------------------------------------------


class Watcher:
    """Polls the fake's request log every ~1 ms from a thread of its own.

    The fake records a request after it has changed its state, under its lock, so the
    moment a record is first seen is the moment the reaction or comment became visible
    on "GitHub", to within one poll (~1 ms) plus the wait for the lock.
    """

    def __init__(self, fake: FakeGitHub) -> None:
        self._fake = fake
        self._seen = 0
        self._items: dict[tuple[str, int], Item] = {}
        self.arrivals: list[tuple[float, Recorded]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def watch(self, items: list[Item]) -> None:
        with self._fake.lock:
            self._items.update((item.key, item) for item in items)

    def last_arrival(self) -> float:
        with self._fake.lock:
            return self.arrivals[-1][0] if self.arrivals else 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._fake.lock:
                now = time.monotonic()
                new = self._fake.requests[self._seen :]
                self._seen += len(new)
                for record in new:
                    self.arrivals.append((now, record))
                    self._note(now, record)
            time.sleep(POLL_S)

    def _note(self, now: float, record: Recorded) -> None:
        match = ISSUE_PATH.fullmatch(record.path)
        if record.method != "POST" or record.status != 201 or match is None:
            return
        item = self._items.get((match[1].lower(), int(match[2])))
        if item is None:
            return
        if match[3] == "reactions" and item.eyes is None:
            item.eyes = now
        elif match[3] == "comments" and item.comment is None:
            item.comment = now


def wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL_S)


def post(connection: http.client.HTTPConnection, item: Item) -> None:
    item.sent = time.monotonic()
    connection.request("POST", "/webhook", body=item.body, headers=item.headers)
    response = connection.getresponse()
    response.read()
    item.answered = time.monotonic()
    item.status = response.status


def run_sequential(port: int, items: list[Item], watcher: Watcher) -> None:
    """One item at a time, each sent when the previous one is done and its budget is full."""
    watcher.watch(items)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for item in items:
            wait_for(
                lambda t=item.target: time.monotonic() >= t.ready_at,
                f"the write budget of {item.target.repo}",
                WRITE_REFILL_S + 1,
            )
            post(connection, item)
            if item.status != 202:
                raise RuntimeError(f"delivery for {item.target.repo}#{item.number}: {item.status}")
            wait_for(
                lambda i=item: i.done,
                f"👀 and comment on {item.target.repo}#{item.number}",
                ITEM_TIMEOUT_S,
            )
            item.target.ready_at = time.monotonic() + WRITE_REFILL_S
    finally:
        connection.close()


def run_burst(port: int, items: list[Item], watcher: Watcher) -> None:
    """Every delivery on its own open connection, released together by a barrier."""
    watcher.watch(items)
    ready = max(item.target.ready_at for item in items)
    wait_for(lambda: time.monotonic() >= ready, "full write budgets", WRITE_REFILL_S + 1)
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in items]
    for connection in connections:
        connection.connect()
    barrier = threading.Barrier(len(items))
    errors: list[BaseException] = []

    def send(connection: http.client.HTTPConnection, item: Item) -> None:
        try:
            barrier.wait()
            post(connection, item)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=send, args=pair, daemon=True)
        for pair in zip(connections, items, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for connection in connections:
        connection.close()
    if errors:
        raise RuntimeError(f"{len(errors)} deliveries failed to send: {errors[0]!r}")
    refused = [f"{i.target.repo}#{i.number}" for i in items if i.status != 202]
    if refused:
        raise RuntimeError(f"deliveries for {refused} were not answered 202")
    # The pacer lets one write per second through per installation.
    writes_per_target = 2 * len(items) / len({i.target.repo for i in items})
    wait_for(
        lambda: all(i.done for i in items),
        f"👀 and comments on {len(items)} issues",
        ITEM_TIMEOUT_S + writes_per_target + len(items),
    )
    for item in items:
        item.target.ready_at = time.monotonic() + writes_per_target + WRITE_REFILL_S


def healthz_baseline(port: int, rounds: int) -> list[float]:
    """Round trips of `GET /healthz` on one kept-alive connection, as the deliveries use."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    samples = []
    try:
        for _ in range(rounds):
            start = time.monotonic()
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            samples.append(time.monotonic() - start)
            if response.status != 200:
                raise RuntimeError(f"/healthz answered {response.status}")
    finally:
        connection.close()
    return samples


# -- set-up -------------------------------------------------------------------------------------


@contextmanager
def github_fake(installations: int) -> Iterator[tuple[FakeGitHub, list[Target]]]:
    """The e2e tests' fake: App `aios`; here with one installation per repository."""
    app = FakeGitHub.generate_app(app_id=12345, slug="aios")
    fake = FakeGitHub(OpenAPIChecker.load(), app=app)
    targets = []
    for n in range(1, installations + 1):
        target = Target(installation_id=n, repo=f"org-{n}/hello")
        fake.add_installation(n, f"org-{n}", [target.repo])
        fake.set_permission(target.repo, WARM_UP_SENDER, "write")
        targets.append(target)
    fake.start()
    try:
        yield fake, targets
    finally:
        fake.stop()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


@contextmanager
def aios_serve(fake: FakeGitHub, work: Path, *, trace: bool) -> Iterator[Server]:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "AIOS_ENV", "LOG_LEVEL", "LOG_FORMAT")
        and not key.startswith("ANTHROPIC")
    }
    env.update(fake.env())
    env["AIOS_DATA_DIR"] = str(work / "data")
    if trace:
        env.update({"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json"})
    log = work / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(AIOS), "serve", "--port", str(port)],
            env=env,
            cwd=work,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log)
    try:
        wait_ready(server)
        yield server
    except BaseException:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        print("\naios serve log (last 40 lines):\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"aios serve exited early:\n{server.log.read_text()}")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        try:
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    raise RuntimeError(f"aios serve not ready on /readyz:\n{server.log.read_text()}")


def new_items(
    fake: FakeGitHub, targets: list[Target], count: int, mode: str, *, senders: bool = True
) -> list[Item]:
    """Fresh issues (round robin over the targets) and their signed deliveries, made up front.

    With `senders`, each item is labeled by a maintainer of its own (write permission), so
    each one goes through AIOS's permission check rather than its 5-minute cache.
    """
    items = []
    for k in range(count):
        target = targets[k % len(targets)]
        sender = f"{mode}-maintainer-{k + 1}" if senders else WARM_UP_SENDER
        fake.set_permission(target.repo, sender, "write")
        issue = fake.add_issue(target.repo, f"{mode} benchmark issue {k + 1}", user=sender)
        payload = app_events.issue_labeled(
            fake,
            target.repo,
            issue.number,
            LABEL,
            sender=sender,
            installation_id=target.installation_id,
        )
        body = webhooks.encode(payload)
        headers = webhooks.delivery_headers("issues", body, fake.webhook_secret)
        items.append(Item(target, issue.number, body, headers))
    return items


# -- checks and report --------------------------------------------------------------------------


def idempotency_problems(fake: FakeGitHub, items: list[Item]) -> list[str]:
    problems = []
    for item in items:
        where = f"{item.target.repo}#{item.number}"
        with fake.lock:
            issue = fake.repo(item.target.repo).issues[item.number]
            reactions = [r.content for r in issue.reactions if r.user == fake.bot_login]
        progress = [
            c
            for c in fake.comments(item.target.repo, item.number)
            if c.user == fake.bot_login and c.body.startswith("<!-- aios:progress item=")
        ]
        if reactions != ["eyes"]:
            problems.append(f"{where} has bot reactions {reactions}, expected ['eyes']")
        if len(progress) != 1:
            problems.append(f"{where} has {len(progress)} progress comments, expected 1")
    return problems


def percentile(samples: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), in the samples' unit."""
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def row(name: str, seconds: list[float], judged: bool) -> tuple[str, bool]:
    ms = [s * 1000 for s in seconds]
    p50, p95 = percentile(ms, 50), percentile(ms, 95)
    ok = p50 < TARGET_P50_MS and p95 < TARGET_P95_MS
    verdict = ("PASS" if ok else "MISS") if judged else ""
    text = (
        f"  {name:<36}{p50:>9.1f}{p95:>9.1f}{min(ms):>9.1f}{max(ms):>9.1f}{len(ms):>5}  {verdict}"
    )
    return text.rstrip(), ok


def header(first: str) -> str:
    return f"  {first:<36}{'p50 ms':>9}{'p95 ms':>9}{'min':>9}{'max':>9}{'n':>5}"


def table(title: str, items: list[Item], judged: bool) -> bool:
    print(f"\n{title}")
    print(header("from the webhook POST to"))
    rows = [
        ("webhook answered (202)", [i.answered - i.sent for i in items], False),
        ("(a) 👀 reaction on the issue", [i.eyes - i.sent for i in items if i.eyes], judged),
        (
            "(b) progress comment on the issue",
            [i.comment - i.sent for i in items if i.comment],
            judged,
        ),
    ]
    passed = True
    for name, seconds, judge in rows:
        text, ok = row(name, seconds, judge)
        print(text)
        passed = passed and (ok or not judge)
    return passed


def call_name(record: Recorded) -> str:
    path = REPO_PATH.sub("/repos/{repo}/", record.path, count=1)
    parts = ["{n}" if part.isdigit() else part for part in path.split("/")]
    path = re.sub(r"/collaborators/[^/]+/", "/collaborators/{user}/", "/".join(parts))
    return f"{record.method} {path} → {record.status}"


def calls_breakdown(items: list[Item], watcher: Watcher) -> None:
    """When, after its POST, each GitHub call of an item reached the fake (sequential items)."""
    windows = [(i.sent, i.comment or i.sent) for i in items]
    by_call: dict[str, list[float]] = {}
    for arrived, record in watcher.arrivals:
        for sent, finished in windows:
            if sent <= arrived <= finished:
                by_call.setdefault(call_name(record), []).append(arrived - sent)
                break
    print("  GitHub calls reaching the fake, ms after the POST (p50, count):")
    for name, seconds in sorted(by_call.items(), key=lambda kv: percentile(kv[1], 50)):
        print(f"    {percentile(seconds, 50) * 1000:>8.1f}  x{len(seconds):<4}{name}")


def trace_timeline(log: Path, items: list[Item], watcher: Watcher, clock_offset: float) -> None:
    """Everything that happened for the median item (by (b)): server log lines and GitHub calls.

    Log lines carry wall-clock timestamps (µs); one offset taken at start puts them on the
    monotonic clock, good to about a millisecond.
    """
    item = sorted(items, key=lambda i: (i.comment or i.sent) - i.sent)[len(items) // 2]
    assert item.comment is not None
    # Up to the next delivery, so its lines do not mix in (the next one is sent at once).
    end = min([i.sent for i in items if i.sent > item.sent] + [item.comment + 0.02])
    events: list[tuple[float, str]] = [
        (0.0, "client: webhook POST sent"),
        (item.answered - item.sent, f"client: webhook answered {item.status}"),
    ]
    for arrived, record in watcher.arrivals:
        if item.sent <= arrived <= end:
            events.append((arrived - item.sent, f"fake GitHub: {call_name(record)}"))
    for line in log.read_text(errors="replace").splitlines():
        if TRACE_NOISE.search(line):
            continue
        try:
            entry = json.loads(line)
            wall = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        moment = wall - clock_offset
        if item.sent <= moment <= end:
            text = WORKER_NAME.sub("", str(entry.get("event", "")).splitlines()[0])
            events.append((moment - item.sent, f"{entry.get('logger', '?')}: {text[:90]}"))
    print(f"  timeline of the median item, {item.target.repo}#{item.number} (ms after the POST):")
    for offset, text in sorted(events):
        print(f"    {offset * 1000:>8.1f}  {text}")


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def print_header(args: argparse.Namespace) -> None:
    logs = "LOG_LEVEL=DEBUG LOG_FORMAT=json (--trace)" if args.trace else "default settings"
    print(
        "AIOS reaction latency: a signed issues.labeled delivery (label `aios`, sender with write"
    )
    print("permission) POSTed to `aios serve` → (a) 👀 on the issue, (b) the first progress")
    print("comment on the issue, as seen by the GitHub fake; one issue per work item.")
    print(f"server: {AIOS} serve: embedded Redis, 1 worker, {logs}; commit {git_revision()}")
    print(
        f"machine: nproc={os.cpu_count()}, {platform.machine()}, "
        f"Python {platform.python_version()}; the fake GitHub (checking every request against"
        " the REST description) and this client run in one process beside the server"
    )
    print(
        f"clock: time.monotonic(); (a) and (b) found by polling the fake's request log every "
        f"{POLL_S * 1000:.0f} ms (resolution ~1 ms)"
    )
    print(
        f"scenario: {args.installations} installations (one repository each), items round robin;"
        " one sender per item (so each goes through the permission check); tokens warmed by"
        " one unmeasured item per installation; an installation gets an item only when its"
        " write budget is full (sequential) or all at once (burst)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sequential", action="store_true", help="only the sequential mode")
    mode.add_argument("--burst", action="store_true", help="only the burst mode")
    parser.add_argument("--items", type=int, default=50, help="work items (issues) per mode")
    parser.add_argument("--installations", type=int, default=10, help="repositories/installations")
    parser.add_argument("--baseline", type=int, default=200, help="GET /healthz round trips")
    parser.add_argument("--trace", action="store_true", help="DEBUG JSON logs and a timeline")
    args = parser.parse_args()
    if args.items < 1 or args.installations < 1:
        parser.error("--items and --installations must be at least 1")
    modes = (
        ["burst"] if args.burst else ["sequential"] if args.sequential else ["sequential", "burst"]
    )
    print_header(args)

    passed = True
    with (
        tempfile.TemporaryDirectory(prefix="aios-reaction-") as tmp,
        github_fake(args.installations) as (fake, targets),
    ):
        watcher = Watcher(fake)
        watcher.start()
        try:
            with aios_serve(fake, Path(tmp), trace=args.trace) as server:
                clock_offset = time.time() - time.monotonic()
                baseline = healthz_baseline(server.port, args.baseline)
                print("\nbaseline: GET /healthz on the same server, one kept-alive connection")
                print(header("round trip"))
                print(row("GET /healthz", baseline, False)[0])

                warm_up = new_items(fake, targets, len(targets), "warm-up", senders=False)
                run_sequential(server.port, warm_up, watcher)
                checked = list(warm_up)
                for name in modes:
                    items = new_items(fake, targets, args.items, name)
                    started = time.monotonic()
                    (run_sequential if name == "sequential" else run_burst)(
                        server.port, items, watcher
                    )
                    elapsed = time.monotonic() - started
                    note = (
                        "judged: p50 < 200 ms, p95 < 500 ms"
                        if name == "sequential"
                        else "queueing included; not judged"
                    )
                    title = f"{name}: {len(items)} items in {elapsed:.1f} s ({note})"
                    passed = table(title, items, judged=name == "sequential") and passed
                    if name == "sequential":
                        calls_breakdown(items, watcher)
                        if args.trace:
                            trace_timeline(server.log, items, watcher, clock_offset)
                    checked += items
                wait_for(
                    lambda: time.monotonic() - watcher.last_arrival() > QUIET_S,
                    "the fake to go quiet",
                    60,
                )
        finally:
            watcher.stop()
        problems = idempotency_problems(fake, checked)
        violations = fake.violations

    print()
    for problem in problems:
        print(f"FAIL  {problem}")
    if not problems:
        print(
            f"PASS  each of the {len(checked)} issues has exactly one 👀 and one progress comment"
        )
    for violation in violations:
        print(f"FAIL  a request the real GitHub would refuse: {violation}")
    if not violations:
        print("PASS  every request matched GitHub's REST description")
    passed = passed and not problems and not violations
    print("result:", "PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
