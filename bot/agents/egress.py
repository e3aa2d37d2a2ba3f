"""Egress for the `run` sandbox: an allowlisting HTTP proxy outside it, reached by a Unix socket.

The sandbox keeps its own network namespace (only `lo`, no DNS). When a run allows hosts, AIOS
serves this proxy on a Unix socket that is bound into the sandbox; a relay inside (python3 from
the read-only system) listens on 127.0.0.1:3128 there and forwards each connection to the
socket, and HTTP(S)_PROXY point at it. The proxy answers CONNECT and absolute-URI `http://`
requests for the allowed host:port pairs only; it resolves and connects to nothing else.
This is how Anthropic's sandbox-runtime gives a bubblewrap sandbox an allowlisted network.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import structlog

log = structlog.get_logger(__name__)

PROXY_PORT = 3128
"""Where the relay listens on the sandbox's own loopback (nothing else shares that namespace)."""
SOCKET_INSIDE = "/run/aios-egress.sock"
DEFAULT_PORTS = (443, 80)
"""What an allow_hosts entry without a port allows."""
HEAD_LIMIT = 64 << 10
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 30.0
RELAY_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
"""Candidates for the relay's interpreter: under /usr, so the sandbox sees the same file."""
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DROPPED_HEADERS = (b"proxy-connection:", b"proxy-authorization:", b"connection:", b"keep-alive:")
_PHRASES = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}

# Runs inside the sandbox as pid 1: binds the relay's port first (so the command can never
# race it), forks the relay off, then becomes the command itself, which stays pid 1.
RELAY = r"""
import os, socket, sys, threading
port, path, command = int(sys.argv[1]), sys.argv[2], sys.argv[3]
listener = socket.create_server(("127.0.0.1", port), backlog=128)
if os.fork():
    os.execv("/bin/sh", ["/bin/sh", "-c", command])
null = os.open("/dev/null", os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
def pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def serve(client):
    with client, socket.socket(socket.AF_UNIX) as up:
        try:
            up.connect(path)
        except OSError:
            return
        other = threading.Thread(target=pipe, args=(client, up), daemon=True)
        other.start()
        pipe(up, client)
        for s in (client, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        other.join()
while True:
    client, _ = listener.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
"""


class EgressError(ValueError):
    """An allow_hosts entry that is not a host name or IPv4 address with an optional port."""


@dataclass(frozen=True)
class Allowlist:
    """The (host, port) pairs a sandbox may reach through the proxy: exact matches only."""

    pairs: frozenset[tuple[str, int]]

    def allows(self, host: str, port: int) -> bool:
        return (host.lower().rstrip("."), port) in self.pairs


def parse_allow_hosts(entries: Iterable[str]) -> Allowlist:
    """`pypi.org` (ports 443 and 80) or `127.0.0.1:8080`; URLs, wildcards, IPv6 are refused."""
    pairs: set[tuple[str, int]] = set()
    for entry in entries:
        host, port = _parse_entry(entry)
        pairs |= {(host, p) for p in ((port,) if port else DEFAULT_PORTS)}
    return Allowlist(frozenset(pairs))


def _parse_entry(entry: object) -> tuple[str, int | None]:
    why = (
        f"allow_hosts entry {entry!r} is not a host name or IPv4 address with an optional "
        ":port (no scheme, path, wildcard or IPv6), e.g. 'pypi.org' or '127.0.0.1:8080'"
    )
    if not isinstance(entry, str):
        raise EgressError(why)
    host, _, port_text = entry.strip().lower().partition(":")
    host = host.rstrip(".")
    port = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise EgressError(why)
        port = int(port_text)
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise EgressError(why) from None
    elif not _HOST_NAME.fullmatch(host) or len(host) > 253:
        raise EgressError(why)
    return host, port


def relay_python() -> str | None:
    """The interpreter the relay runs with inside the sandbox, or None when there is none."""
    for candidate in RELAY_PYTHONS:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def relay_command(python: str, command: str) -> list[str]:
    """The sandbox's entry: start the relay, then run `command` with `/bin/sh -c` as pid 1."""
    return [python, "-I", "-S", "-c", RELAY, str(PROXY_PORT), SOCKET_INSIDE, command]


def proxy_env() -> dict[str, str]:
    """What points HTTP clients inside at the relay. `localhost` stays direct (a server the
    command starts itself); 127.0.0.1 goes through the proxy, so an allowed `127.0.0.1:PORT`
    on the host (a local package index) is reachable."""
    url = f"http://127.0.0.1:{PROXY_PORT}"
    env = {}
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        env[name] = env[name.lower()] = url
    env["NO_PROXY"] = env["no_proxy"] = "localhost"
    return env


class EgressProxy:
    """Serves one run's sandbox; `refused` (shared by a sandbox's runs) lists refused hosts once."""

    def __init__(self, allow: Allowlist, refused: list[str]) -> None:
        self.allow = allow
        self.refused = refused
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, path: Path) -> None:
        self._server = await asyncio.start_unix_server(self._serve, str(path), limit=HEAD_LIMIT)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            upstream = await self._handle(reader, writer)
        except (ConnectionError, OSError):
            pass
        finally:
            self._tasks.discard(task)
            for end in (writer, upstream):
                if end is not None:
                    end.close()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> asyncio.StreamWriter | None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            await _answer(writer, 400, "expected an HTTP request head")
            return None
        line, _, headers = head.partition(b"\r\n")
        parts = line.decode("latin-1").split(" ")
        target = _target(parts)
        if target is None:
            await _answer(writer, 400, "only CONNECT host:port and absolute http:// URLs pass")
            return None
        host, port = target
        name = f"{host}:{port}"[:300]
        if not self.allow.allows(host, port):
            if name not in self.refused:
                self.refused.append(name)
                log.warning("sandbox.egress_refused", host=name)
            await _answer(writer, 403, f"{name} is not in this sandbox's allow_hosts")
            return None
        try:
            up_reader, upstream = await asyncio.wait_for(
                asyncio.open_connection(host, port), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            await _answer(writer, 502, f"{name} could not be reached ({type(exc).__name__})")
            return None
        if parts[0] == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            upstream.write(_origin_form(parts, headers))
        down = asyncio.ensure_future(_pipe(up_reader, writer))
        up = asyncio.ensure_future(_pipe(reader, upstream))
        try:
            # The server's side ending ends the exchange; the client may half-close earlier.
            await down
        finally:
            up.cancel()
            await asyncio.gather(up, return_exceptions=True)
        return upstream


def _target(parts: list[str]) -> tuple[str, int] | None:
    """(host, port) of a request line, or None when it is neither CONNECT nor absolute http."""
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    method, target, _ = parts
    try:
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            return (host.lower(), int(port)) if host and port.isdigit() else None
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            return None
        return url.hostname, url.port or 80
    except ValueError:
        return None


def _origin_form(parts: list[str], headers: bytes) -> bytes:
    """The request as the origin server expects it: path only, no proxy headers, one request."""
    method, target, version = parts
    url = urlsplit(target)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    kept = [h for h in headers.split(b"\r\n") if h and not h.lower().startswith(_DROPPED_HEADERS)]
    if not any(h.lower().startswith(b"host:") for h in kept):
        kept.insert(0, f"Host: {url.netloc}".encode("latin-1"))
    lines = [f"{method} {path} {version}".encode("latin-1"), *kept, b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await src.read(1 << 16):
            dst.write(chunk)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    body = f"aios sandbox egress proxy: {reason}\n".encode()
    writer.write(
        f"HTTP/1.1 {status} {_PHRASES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()


@contextlib.asynccontextmanager
async def serve_egress(
    allow: Allowlist, refused: list[str], *, host_uid: int | None
) -> AsyncIterator[Path]:
    """Serve the proxy on a fresh socket for one run; yields the socket's host path."""
    directory = Path(tempfile.mkdtemp(prefix="aios-egress-"))
    proxy = EgressProxy(allow, refused)
    try:
        path = directory / "proxy.sock"
        await proxy.start(path)
        path.chmod(0o600)
        if host_uid is not None:
            # bwrap runs as this uid: it must reach the socket to bind it, the relay to connect.
            os.chown(path, host_uid, host_uid)
            os.chown(directory, host_uid, host_uid)
        yield path
    finally:
        await proxy.close()
        shutil.rmtree(directory, ignore_errors=True)
