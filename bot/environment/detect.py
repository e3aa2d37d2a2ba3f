"""What a repository needs before the agents, guessed from its files: setup, test command, cache."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_READ_BYTES = 512 * 1024
"""A manifest larger than this is not a manifest anyone wrote by hand; read no further."""

VENV = ".venv"
PIP = f"{VENV}/bin/pip"
VENV_PYTHON = f"{VENV}/bin/python"

PYTHON_EXTRAS = ("test", "tests", "dev")
"""The optional-dependencies group installed with the project, the first one present."""

REQUIREMENT_FILES = (
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-test.txt",
    "requirements/test.txt",
)
"""Installed with `-r`, in this order, when present and there is no installable pyproject."""

PYTHON_LOCKS = ("uv.lock", "poetry.lock", "pdm.lock", "pyproject.toml")

NODE_MANAGERS = (
    ("pnpm-lock.yaml", "pnpm install --frozen-lockfile", "pnpm test"),
    ("yarn.lock", "yarn install --frozen-lockfile", "yarn test"),
    ("package-lock.json", "npm ci", "npm test"),
    ("package.json", "npm install", "npm test"),
)
"""(file that decides, install command, test command), first present wins."""

NPM_PLACEHOLDER = "no test specified"
"""What `npm init` writes as scripts.test: a test script that only fails."""

_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Detected:
    """A project recognised from its files, and what to run for it (in the work tree root)."""

    language: str
    evidence: str
    setup: tuple[str, ...]
    test: str | None
    cache: tuple[str, ...]
    lock_files: tuple[str, ...]

    def describe(self) -> str:
        """One line for the progress comment."""
        steps = ", ".join(_code(command) for command in self.setup) or "nothing to install"
        tests = _code(self.test) if self.test else "none found"
        return f"{self.language} ({self.evidence}): {steps}; tests: {tests}"


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _on_path(tool: str) -> bool:
    return shutil.which(tool) is not None


def inside(root: Path, relative: str) -> Path | None:
    """The regular file `relative` under `root`, or None when it is missing, is not a regular
    file (a FIFO would block a read) or resolves outside `root` (a symlink to /etc/passwd)."""
    try:
        base = root.resolve()
        path = (base / relative).resolve()
        if not path.is_relative_to(base):
            return None
        return path if stat.S_ISREG(path.stat().st_mode) else None
    except (OSError, RuntimeError, ValueError):
        return None


def read_inside(root: Path, relative: str, *, limit: int = MAX_READ_BYTES) -> str | None:
    """At most `limit` bytes of a file under `root`, decoded leniently; None when unreadable."""
    path = inside(root, relative)
    if path is None:
        return None
    try:
        # O_NONBLOCK: the file was regular a moment ago; if it has become a FIFO, do not hang.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def _present(root: Path, names: Iterable[str]) -> tuple[str, ...]:
    return tuple(name for name in names if inside(root, name) is not None)


def _requirement_files(root: Path) -> tuple[str, ...]:
    """requirements*.txt at the root and requirements/*.txt, sorted, regular files only."""
    try:
        found = [p.name for p in root.glob("requirements*.txt")]
        found += [f"requirements/{p.name}" for p in root.glob("requirements/*.txt")]
    except OSError:
        return ()
    return _present(root, sorted(found))


def _requirement_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        match = _REQUIREMENT_NAME.match(line)
        if match and not line.lstrip().startswith(("#", "-")):
            names.add(match.group(1).lower().replace("_", "-"))
    return names


def _names_pytest(names: Iterable[str]) -> bool:
    return any(name == "pytest" or name.startswith("pytest-") for name in names)


def _pyproject(root: Path) -> dict[str, Any] | None:
    """The parsed pyproject.toml, {} when it is malformed, None when there is none."""
    text = read_inside(root, "pyproject.toml")
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return {}


def _table(data: object, *keys: str) -> dict[str, Any]:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _extra(pyproject: dict[str, Any]) -> str | None:
    groups = _table(pyproject, "project", "optional-dependencies")
    return next((name for name in PYTHON_EXTRAS if name in groups), None)


def _installed_names(pyproject: dict[str, Any], extra: str | None) -> set[str]:
    """Requirement names `pip install -e .[extra]` brings in."""
    project = _table(pyproject, "project")
    wanted = _strings(project.get("dependencies"))
    if extra:
        wanted += _strings(_table(project, "optional-dependencies").get(extra))
    return _requirement_names("\n".join(wanted))


def _all_names(pyproject: dict[str, Any]) -> set[str]:
    """Every requirement named anywhere a pyproject lists them (extras, dependency groups,
    poetry's groups): enough to say the project uses pytest."""
    texts = _strings(_table(pyproject, "project").get("dependencies"))
    for group in _table(pyproject, "project", "optional-dependencies").values():
        texts += _strings(group)
    for group in _table(pyproject, "dependency-groups").values():
        texts += _strings(group)
    poetry = _table(pyproject, "tool", "poetry")
    texts += list(_table(poetry, "dependencies")) + list(_table(poetry, "dev-dependencies"))
    for group in _table(poetry, "group").values():
        texts += list(_table(group, "dependencies"))
    return _requirement_names("\n".join(texts))


def _pytest_evident(root: Path, pyproject: dict[str, Any] | None, requirements: set[str]) -> bool:
    if _present(root, ("pytest.ini", "conftest.py", "tests/conftest.py", "test/conftest.py")):
        return True
    if pyproject and (_table(pyproject, "tool", "pytest") or _names_pytest(_all_names(pyproject))):
        return True
    if _names_pytest(requirements):
        return True
    configs = (("tox.ini", "[pytest]"), ("setup.cfg", "[tool:pytest]"))
    return any(marker in (read_inside(root, name) or "") for name, marker in configs)


def _test_dir(root: Path) -> str | None:
    for name in ("tests", "test"):
        if (root / name).is_dir() and not (root / name).is_symlink():
            return name
    return None


def _python_test(root: Path, pytest: bool, *, uv: bool = False) -> str | None:
    python = "uv run python" if uv else VENV_PYTHON
    if pytest:
        return "uv run pytest -q" if uv else f"{python} -m pytest -q"
    # Plain `-m unittest` finds nothing in a tests/ without __init__.py: name the folder.
    folder = _test_dir(root)
    return f"{python} -m unittest discover -s {folder}" if folder else None


def _python_locks(root: Path) -> tuple[str, ...]:
    return _present(root, PYTHON_LOCKS) + _requirement_files(root)


def _python(root: Path, available: Callable[[str], bool]) -> Detected | None:
    pyproject = _pyproject(root)
    req_files = _requirement_files(root)
    req_names: set[str] = set()
    for name in req_files:
        req_names |= _requirement_names(read_inside(root, name) or "")
    pytest = _pytest_evident(root, pyproject, req_names)
    venv = f"python3 -m venv {VENV}"
    if inside(root, "uv.lock") and available("uv"):
        test = _python_test(root, pytest, uv=True)
        return Detected("Python", "uv.lock", ("uv sync",), test, (VENV,), _python_locks(root))
    installable = pyproject is not None and (
        # A pyproject holding only tool settings (ruff, black) cannot be pip-installed;
        # a requirements file then says what to install. A malformed one gets its chance.
        not pyproject
        or "project" in pyproject
        or "build-system" in pyproject
        or inside(root, "setup.py") is not None
        or not req_files
    )
    if pyproject is not None and installable:
        extra = _extra(pyproject)
        target = f".[{extra}]" if extra else "."
        setup = [venv, f"{PIP} install -e {shlex.quote(target)}"]
        if pytest and not _names_pytest(_installed_names(pyproject, extra) | req_names):
            setup.append(f"{PIP} install pytest")
        test = _python_test(root, pytest)
        return Detected(
            "Python", "pyproject.toml", tuple(setup), test, (VENV,), _python_locks(root)
        )
    top = [name for name in req_files if "/" not in name]
    if not top:
        return None
    chosen = _present(root, REQUIREMENT_FILES) or tuple(top)
    install = f"{PIP} install " + " ".join(f"-r {shlex.quote(name)}" for name in chosen)
    setup = [venv, install]
    if pytest and not _names_pytest(req_names):
        setup.append(f"{PIP} install pytest")
    test = _python_test(root, pytest)
    return Detected("Python", chosen[0], tuple(setup), test, (VENV,), _python_locks(root))


def _node_test_script(root: Path) -> bool:
    try:
        manifest = json.loads(read_inside(root, "package.json") or "{}")
    except ValueError:
        return False
    script = _table(manifest, "scripts").get("test")
    return isinstance(script, str) and bool(script.strip()) and NPM_PLACEHOLDER not in script


def _node(root: Path, available: Callable[[str], bool]) -> Detected | None:
    for evidence, install, test in NODE_MANAGERS:
        if inside(root, evidence) is not None:
            locks = _present(root, [name for name, _, _ in NODE_MANAGERS])
            runs = test if _node_test_script(root) else None
            return Detected("Node", evidence, (install,), runs, ("node_modules",), locks)
    return None


def _go(root: Path, available: Callable[[str], bool]) -> Detected | None:
    if inside(root, "go.mod") is None:
        return None
    locks = _present(root, ("go.sum", "go.mod"))
    return Detected("Go", "go.mod", ("go mod download",), "go test ./...", (), locks)


def _rust(root: Path, available: Callable[[str], bool]) -> Detected | None:
    locks = _present(root, ("Cargo.lock", "Cargo.toml"))
    if not locks:
        return None
    return Detected("Rust", locks[0], ("cargo fetch",), "cargo test", (), locks)


RULES: tuple[Callable[[Path, Callable[[str], bool]], Detected | None], ...] = (
    _python,
    _node,
    _go,
    _rust,
)
"""The languages in the order they are tried; the first that recognises the tree wins."""


def detect(root: Path, *, available: Callable[[str], bool] = _on_path) -> Detected | None:
    """The project in `root` and what to run for it; None when nothing is recognised.

    Args:
        root: the work tree. Nothing outside it is read; every file in it is untrusted.
        available: whether a tool is installed (only `uv` is asked), for tests to decide.
    """
    for rule in RULES:
        found = rule(root, available)
        if found is not None:
            return found
    return None
