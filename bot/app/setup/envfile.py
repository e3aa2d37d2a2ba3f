"""The dotenv file setup writes: updated in place, private, other lines kept."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream


def write_env(env_path: Path, values: Mapping[str, str], *, remove: Iterable[str] = ()) -> None:
    """Set `values` in the dotenv file `env_path` (and drop the keys in `remove`), keeping
    every other line as it was.

    The file is replaced atomically (temporary file, then rename) and ends up with
    mode 0600, since it holds the App's private key.

    Raises:
        ValueError: if a value cannot be written single-quoted (names the key only).
        OSError: if the file cannot be read or written.
    """
    lines = []
    for key, value in values.items():
        if not _single_quotable(value):
            raise ValueError(f"{key}: value cannot be written single-quoted; not written")
        lines.append(f"{key}='{value}'\n")
    dropped = set(values) | set(remove)
    try:
        with env_path.open() as existing:
            bindings = parse_stream(existing)
            kept = "".join(b.original.string for b in bindings if b.key not in dropped)
    except FileNotFoundError:
        kept = ""
    if kept and not kept.endswith("\n"):
        kept += "\n"
    fd, tmp = tempfile.mkstemp(dir=env_path.parent, prefix=f".{env_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(kept + "".join(lines))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, env_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_env(env_path: Path) -> dict[str, str]:
    """The values of the dotenv file, or nothing when there is none."""
    if not env_path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(env_path).items() if v is not None}


def writable_env_path(env_path: Path, data_dir: Path) -> Path:
    """`env_path`, or `data_dir/.env` when its folder cannot be written (a container's
    read-only working directory), so a deployed server can still save what setup learns."""
    if os.access(env_path.parent, os.W_OK):
        return env_path
    return data_dir / ".env"


def _single_quotable(value: str) -> bool:
    """python-dotenv and docker compose read '...' literally except for \\\\ and \\'."""
    return not any(c in value for c in "'\n\r") and "\\\\" not in value and not value.endswith("\\")
