"""The loopback package index the setup tests stand in for PyPI, used by a real pip.

Two wheels built here (one requiring the other) are installed by the venv's pip on the host
and by the system pip inside the bubblewrap sandbox, through the egress proxy; without the
index in allow_hosts the sandbox's pip fails and the proxy records the refusal.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.agents.bwrap import Isolation
from bot.testbed.package_index import PackageIndex, build_wheel
from tests.test_sandbox import isolation, sandbox, workspace  # noqa: F401 - fixtures

CHECK = "import top_pkg, dep_mod; print(top_pkg.greet(), dep_mod.WORD)"
TOP_SOURCE = "import dep_mod\n\ndef greet():\n    return 'hi-' + dep_mod.WORD\n"
PIP_OPTIONS = "--no-cache-dir --disable-pip-version-check --no-input --retries 0 --timeout 20"


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """`Top.Pkg` 1.0 (package `top_pkg`) requires `dep_mod` (single module), both built here."""
    directory = tmp_path / "wheels"
    build_wheel(directory, "Dep_Mod", "2.0", {"dep_mod.py": "WORD = 'from-dep'\n"})
    build_wheel(
        directory,
        "Top.Pkg",
        "1.0",
        {"top_pkg/__init__.py": TOP_SOURCE},
        requires=["dep-mod>=2"],
    )
    return directory


@pytest.fixture
def index(wheels: Path) -> Iterator[PackageIndex]:
    with PackageIndex(wheels) as served:
        yield served


def test_a_built_wheel_carries_metadata_and_a_record_of_every_file(wheels: Path) -> None:
    top = wheels / "top_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(top) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    metadata = files["top_pkg-1.0.dist-info/METADATA"].decode()
    wheel = files["top_pkg-1.0.dist-info/WHEEL"].decode()
    assert "Name: Top.Pkg\nVersion: 1.0\nRequires-Dist: dep-mod>=2\n" in metadata
    assert "Root-Is-Purelib: true" in wheel and "Tag: py3-none-any" in wheel
    record = [line.split(",") for line in files["top_pkg-1.0.dist-info/RECORD"].decode().split()]
    assert {path for path, _, _ in record} == set(files)
    for path, digest, size in record:
        if path.endswith("/RECORD"):
            assert digest == size == ""
            continue
        data = files[path]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (f"sha256={expected}", len(data)), path


def test_the_index_serves_pep_503_pages_and_the_files_and_404_otherwise(
    index: PackageIndex,
) -> None:
    def get(path: str, method: str = "GET") -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://{index.host_port}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, b""

    status, listing = get("/simple/")
    assert status == 200 and b'href="dep-mod/"' in listing and b'href="top-pkg/"' in listing
    status, links = get("/simple/top-pkg/")
    assert status == 200 and b"/files/top_pkg-1.0-py3-none-any.whl#sha256=" in links
    assert get("/files/dep_mod-2.0-py3-none-any.whl", "HEAD") == (200, b"")
    status, body = get("/files/dep_mod-2.0-py3-none-any.whl")
    assert status == 200 and body[:2] == b"PK"
    assert get("/simple/Top.Pkg/")[0] == 404  # clients normalize; the index does not guess
    assert get("/simple/missing/")[0] == 404 and get("/files/../wheels/x.whl")[0] == 404
    assert index.file_requests() == 2


def test_the_venvs_pip_installs_a_package_and_its_dependency_from_the_index(
    index: PackageIndex, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--index-url", index.url),
            *PIP_OPTIONS.split(),
            *("--target", str(target), "top-pkg"),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        env={**env, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "hi-from-dep from-dep"
    assert index.file_requests() == 2
    assert "/simple/top-pkg/" in index.requests and "/simple/dep-mod/" in index.requests


async def test_pip_in_the_sandbox_installs_from_the_index_through_the_egress_proxy(
    index: PackageIndex,
    workspace: Path,  # noqa: F811
    isolation: Isolation,  # noqa: F811
) -> None:
    box = sandbox(workspace, isolation, timeout_s=240.0)
    try:
        pip = await box.run("python3 -m pip --version")
        assert pip.exit_code == 0, f"the sandbox needs the system pip: {pip.output}"
        done = await box.run(
            f"python3 -m pip install --index-url {index.url} {PIP_OPTIONS} "
            f"--target /workspace/site top-pkg && PYTHONPATH=/workspace/site python3 -c "
            f"'{CHECK}'",
            allow_hosts=[index.host_port],
        )
    finally:
        box.close()
    assert done.exit_code == 0, done.output
    assert done.output.strip().splitlines()[-1] == "hi-from-dep from-dep"
    assert (workspace / "site" / "top_pkg" / "__init__.py").is_file()
    assert index.file_requests() == 2 and box.egress_refused == []


async def test_pip_in_the_sandbox_fails_when_the_index_is_not_allowed(
    index: PackageIndex,
    workspace: Path,  # noqa: F811
    isolation: Isolation,  # noqa: F811
) -> None:
    box = sandbox(workspace, isolation, timeout_s=240.0)
    try:
        # Egress is on (the proxy runs), for another host only.
        done = await box.run(
            f"python3 -m pip install --index-url {index.url} {PIP_OPTIONS} "
            "--target /workspace/site top-pkg",
            allow_hosts=["pypi.org"],
        )
    finally:
        box.close()
    assert done.exit_code != 0
    assert "403" in done.output or "No matching distribution" in done.output, done.output
    assert not (workspace / "site" / "top_pkg").exists()
    assert index.requests == []  # the proxy never connected to it
    assert box.egress_refused == [index.host_port]
