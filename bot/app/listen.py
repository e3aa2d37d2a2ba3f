"""Bind the web port before serve starts anything else, so a port in use is one line."""

from __future__ import annotations

import errno
import socket

BACKLOG = 1024


class CannotListen(Exception):
    """The web port cannot be bound; the message names the address and the fix."""


def listen(host: str, port: int, *, backlog: int = BACKLOG) -> list[socket.socket]:
    """Listening sockets on every address `host` resolves to (as aiohttp's TCPSite binds).

    Raises:
        CannotListen: the port is taken, not ours to bind, or `host` is not this machine's.
    """
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise CannotListen(
            f"cannot listen on {host!r} ({exc.strerror}): set --host or HOST to an address "
            "of this machine (127.0.0.1, or 0.0.0.0 for every interface)"
        ) from None
    sockets: list[socket.socket] = []
    try:
        bound: set[tuple[int, object]] = set()
        for family, kind, proto, _canonical, address in addresses:
            if (family, address) in bound:
                continue  # getaddrinfo may list one address once per protocol
            bound.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # One socket per family, as asyncio does: no IPv4-mapped overlap with the other.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise CannotListen(_explain(exc, host, port)) from None
    return sockets


def _explain(exc: OSError, host: str, port: int) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} is already in use on {host}: stop the process using it "
            f"(another `aios serve`?), or pick another port with --port or PORT"
        )
    if exc.errno == errno.EACCES:
        return (
            f"not allowed to listen on {where} (ports below 1024 need privileges): "
            "pick another port with --port or PORT"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host} is not an address of this machine: set --host or HOST "
            "(127.0.0.1, or 0.0.0.0 for every interface)"
        )
    return f"cannot listen on {where}: {exc.strerror}; check --host/HOST and --port/PORT"
