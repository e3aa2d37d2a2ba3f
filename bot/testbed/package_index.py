"""A package registry on the loopback: pure-Python wheels built here, a PEP 503 index serving them.

Tests and benchmarks stand it in for PyPI: `build_wheel` writes a wheel pip accepts (RECORD
hashes included), `PackageIndex` serves a directory of wheels as a "simple" index from a
background thread on 127.0.0.1, so pip in a subprocess or in the sandbox (through the egress
proxy, with `host_port` allowed) installs from it, and `requests` shows what it was asked.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.server
import re
import threading
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

SIMPLE = "/simple/"
FILES = "/files/"


def normalize(name: str) -> str:
    """PEP 503: the project name as the index spells it in URLs."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_component(text: str) -> str:
    """PEP 427 (as amended by the binary distribution format spec): a filename component."""
    return re.sub(r"[-_.]+", "_", text).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(
    directory: Path,
    name: str,
    version: str,
    modules: Mapping[str, str],
    *,
    requires: Sequence[str] = (),
) -> Path:
    """Write `{dist}-{version}-py3-none-any.whl` into `directory` and return its path.

    `modules` maps paths inside the wheel (`pkg/__init__.py`, `single.py`) to their source;
    `requires` are Requires-Dist lines (`other>=1.0`).
    """
    dist = wheel_component(name)
    version_part = version.replace("-", "_")
    info = f"{dist}-{version_part}.dist-info"
    metadata = "".join(
        [
            "Metadata-Version: 2.1\n",
            f"Name: {name}\n",
            f"Version: {version}\n",
            *(f"Requires-Dist: {r}\n" for r in requires),
        ]
    )
    wheel = (
        "Wheel-Version: 1.0\nGenerator: aios-tests (package_index.py)\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files = {path: source.encode() for path, source in modules.items()}
    files[f"{info}/METADATA"] = metadata.encode()
    files[f"{info}/WHEEL"] = wheel.encode()
    # pip checks every file against RECORD; RECORD itself is listed without a hash.
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{dist}-{version_part}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return target


class PackageIndex:
    """A PEP 503 index over the `*.whl` of `wheels`, re-read on every request.

    `/simple/` lists the projects, `/simple/<normalized>/` links their wheels (with a
    `#sha256=` fragment pip checks), `/files/<wheel>` serves them; anything else is 404.
    """

    def __init__(self, wheels: Path, *, host: str = "127.0.0.1") -> None:
        self.wheels = Path(wheels)
        self.host = host
        self.url = ""
        self.host_port = ""
        self.requests: list[str] = []
        self._files_served = 0
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PackageIndex:
        self._server = http.server.ThreadingHTTPServer((self.host, 0), _handler(self))
        port = self._server.server_address[1]
        self.host_port = f"{self.host}:{port}"
        self.url = f"http://{self.host_port}{SIMPLE}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how soon `__exit__`'s shutdown is noticed
            name="package-index",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
        self._server = self._thread = None

    def record(self, path: str, *, served_file: bool) -> None:
        with self._lock:
            self.requests.append(path)
            self._files_served += served_file

    def file_requests(self) -> int:
        """How many requests (GET or HEAD) were answered with one of the wheels."""
        with self._lock:
            return self._files_served

    def projects(self) -> dict[str, list[Path]]:
        """Normalized project name → its wheels, from the wheel file names."""
        found: dict[str, list[Path]] = {}
        for wheel in sorted(self.wheels.glob("*.whl")):
            found.setdefault(normalize(wheel.name.split("-")[0]), []).append(wheel)
        return found

    def answer(self, path: str) -> tuple[int, str, bytes | Path]:
        """(status, content type, body or file to send) for a request path."""
        projects = self.projects()
        if path == SIMPLE:
            links = "".join(f'<a href="{p}/">{p}</a>\n' for p in projects)
            return 200, "text/html", _page("Simple index", links)
        if path.startswith(SIMPLE) and path.endswith("/"):
            name = path[len(SIMPLE) : -1]
            if name in projects:
                links = "".join(
                    f'<a href="{FILES}{w.name}#sha256={_sha256(w)}">{html.escape(w.name)}</a>\n'
                    for w in projects[name]
                )
                return 200, "text/html", _page(f"Links for {name}", links)
        if path.startswith(FILES):
            wheel = self.wheels / path[len(FILES) :]
            if wheel.suffix == ".whl" and wheel.parent == self.wheels and wheel.is_file():
                return 200, "application/octet-stream", wheel
        return 404, "text/plain", b"not found\n"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _page(title: str, links: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
        f"<title>{title}</title></head><body>\n{links}</body></html>\n"
    ).encode()


def _handler(index: PackageIndex) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._respond(body=True)

        def do_HEAD(self) -> None:
            self._respond(body=False)

        def _respond(self, *, body: bool) -> None:
            # Through the egress proxy the path arrives in origin form; directly, too.
            path = unquote(urlsplit(self.path).path)
            status, kind, content = index.answer(path)
            index.record(path, served_file=isinstance(content, Path))
            data = content.read_bytes() if isinstance(content, Path) else content
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
