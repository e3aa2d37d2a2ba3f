"""Fetch GitHub's pinned npm packages (REST OpenAPI, webhook examples) into a local cache.

`npm pack` is the way they are fetched, so the tests and `aios eval` (whose local GitHub checks
every request against the REST description) need npm once, on first use; afterwards the cache
serves them without npm or a network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The source checkout, when running from one (site-packages once installed)."""
CACHE_ENV = "AIOS_OCTOKIT_CACHE"
NPM_TIMEOUT_S = 300


@dataclass(frozen=True)
class NpmPackage:
    """A pinned npm package and the files we need from it (paths inside the tarball's package/)."""

    name: str
    version: str
    members: tuple[str, ...]

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def dirname(self) -> str:
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}"


OPENAPI = NpmPackage("@octokit/openapi", "23.0.2", ("generated/api.github.com.json",))
"""GitHub's REST API description for api.github.com (OpenAPI 3.0, ~13 MB)."""

WEBHOOK_EXAMPLES = NpmPackage("@octokit/webhooks-examples", "7.6.1", ("api.github.com/index.json",))
"""Real webhook payloads for every event GitHub sends, grouped by event name."""


class OctokitFetchError(RuntimeError):
    """The package could not be fetched; the message says what to do."""


def cache_dir() -> Path:
    """Where extracted packages live: $AIOS_OCTOKIT_CACHE, else <repo>/.cache/octokit in a
    source checkout, else ~/.cache/aios/octokit (an installed package has no repository)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / ".cache" / "octokit"
    return Path.home() / ".cache" / "aios" / "octokit"


def fetch(package: NpmPackage, cache: Path | None = None) -> Path:
    """Return the directory holding `package.members`, fetching it with `npm pack` on first use.

    Extraction goes to a private temporary directory that is renamed into place, so
    concurrent processes (pytest workers, `aios eval --jobs`) see a complete directory or none.
    """
    root = cache or cache_dir()
    final = root / package.dirname
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{package.dirname}-", dir=root))
    try:
        tarball = _npm_pack(package, work)
        staged = work / "extracted"
        _extract(tarball, package, staged)
        try:
            staged.rename(final)
        except OSError:
            # Another process won the race; its directory is complete by construction.
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def openapi_json(cache: Path | None = None) -> Path:
    """Path of the pinned api.github.com REST description."""
    return fetch(OPENAPI, cache) / OPENAPI.members[0]


def webhook_examples_json(cache: Path | None = None) -> Path:
    """Path of the pinned webhook examples index (a list of {name, actions, examples})."""
    return fetch(WEBHOOK_EXAMPLES, cache) / WEBHOOK_EXAMPLES.members[0]


def _npm_pack(package: NpmPackage, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise OctokitFetchError(
            f"npm is needed to fetch {package.spec} for the GitHub fake: "
            "install Node.js/npm: apt-get install -y npm"
        )
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    try:
        result = subprocess.run(
            [npm, "pack", package.spec, "--json", "--pack-destination", str(dest)],
            cwd=dest,
            env=env,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise OctokitFetchError(
            f"`npm pack {package.spec}` took over {NPM_TIMEOUT_S}s; check access to the npm "
            f"registry, or pre-fill {CACHE_ENV}"
        ) from exc
    if result.returncode != 0:
        raise OctokitFetchError(
            f"`npm pack {package.spec}` failed (exit {result.returncode}); check access to the "
            f"npm registry. npm said: {result.stderr.strip()[-800:]}"
        )
    try:
        filename = json.loads(result.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError) as exc:
        raise OctokitFetchError(f"unexpected output from `npm pack {package.spec}`") from exc
    return dest / filename


def _extract(tarball: Path, package: NpmPackage, dest: Path) -> None:
    # Only the named members are written (the openapi tarball unpacks to ~400 MB otherwise),
    # and by our own path, so a hostile member name cannot escape `dest`.
    with tarfile.open(tarball, "r:gz") as archive:
        for member in package.members:
            source = archive.extractfile(f"package/{member}")
            if source is None:
                raise OctokitFetchError(f"{package.spec} has no file {member}")
            target = dest / member
            target.parent.mkdir(parents=True, exist_ok=True)
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
