"""The disk budget: how much AIOS keeps under its data directory (workspaces and setup caches),
and the free-space floor below which no job starts.

Imports nothing heavy: the web process reads it for `/metrics`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from bot.settings import SettingsError

log = structlog.get_logger(__name__)

BUDGET_VARIABLE = "AIOS_DISK_BUDGET"
FLOOR_VARIABLE = "AIOS_DISK_FLOOR"

DEFAULT_BUDGET_SHARE = 0.25
"""The budget when AIOS_DISK_BUDGET is unset: a quarter of the space AIOS could use (what is
free plus what its caches already hold), leaving three quarters to everything else on the disk
(Redis's append-only file, logs, the system). No minimum: on a small disk a minimum is what
could push it under the floor, and a cache is only a speed-up."""

DEFAULT_FLOOR_BYTES = 1 << 30
"""The floor when AIOS_DISK_FLOOR is unset: 1 GiB, room for one clone and a small setup."""

WORKSPACES = "workspaces"
CACHES = "env-cache"
ENTRY_META = "entry.json"
"""A setup cache entry's metadata file (`bot.environment.cache`): its recorded `size` lets the
default budget count what the caches hold without walking them."""

_SIZE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    **{p: 1 << (10 * (i + 1)) for i, p in enumerate("kmgt")},
    **{f"{p}ib": 1 << (10 * (i + 1)) for i, p in enumerate("kmgt")},
    **{f"{p}b": 1000 ** (i + 1) for i, p in enumerate("kmgt")},
}
"""K, M, G, T and KiB… are powers of 1024 (as Docker reads `20g`); KB, MB, GB, TB of 1000."""


class DiskFull(Exception):
    """Less is free on the data directory's filesystem than the floor: no job starts."""

    def __init__(self, free_bytes: int, floor_bytes: int, root: Path) -> None:
        self.free_bytes = free_bytes
        self.floor_bytes = floor_bytes
        self.root = root
        super().__init__(
            f"only {format_bytes(free_bytes)} is free on the disk of AIOS's data directory "
            f"{root} (AIOS_DATA_DIR), and a job needs at least {format_bytes(floor_bytes)} "
            f"({FLOOR_VARIABLE}) before it starts. Free space on that disk, or lower "
            f"{BUDGET_VARIABLE} so setup caches keep less, or lower {FLOOR_VARIABLE}; "
            "then retry."
        )


@dataclass(frozen=True)
class DiskBudget:
    root: Path
    """The data directory (AIOS_DATA_DIR)."""
    budget_bytes: int
    """The most AIOS keeps under `workspaces` and `caches`: past it, caches are evicted."""
    floor_bytes: int
    """A job refuses to start while the filesystem of `root` has less free than this."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], data_dir: Path) -> DiskBudget:
        """AIOS_DISK_BUDGET and AIOS_DISK_FLOOR: bytes with an optional unit (`20G`, `500M`,
        `1.5GiB`, `1000000`) or a percentage: of the space AIOS could use now (free plus its
        caches) for the budget, of the filesystem's size for the floor.

        Raises:
            SettingsError: naming the malformed variable.
        """
        root = Path(data_dir).absolute()
        usage = shutil.disk_usage(_existing(root))
        usable = usage.free + _cached_bytes(root / CACHES)
        budget = _size(BUDGET_VARIABLE, env, of=usable, default=DEFAULT_BUDGET_SHARE * usable)
        floor = _size(FLOOR_VARIABLE, env, of=usage.total, default=DEFAULT_FLOOR_BYTES)
        return cls(root=root, budget_bytes=budget, floor_bytes=floor)

    @property
    def workspaces(self) -> Path:
        return self.root / WORKSPACES

    @property
    def caches(self) -> Path:
        return self.root / CACHES

    def make_workspaces(self) -> Path:
        """Where jobs clone: `workspaces`, made traversable by others (0711, not listable)
        because the sandbox's unprivileged uid works in the trees below it.

        When AIOS runs as root under a directory closed to others (`/root/.aios`), that uid
        could not reach them: the system's temporary directory then, outside the budget, with
        a warning saying what to change."""
        self.workspaces.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workspaces, 0o711)  # noqa: S103 - execute only, no listing
        closed = _closed_to_others(self.workspaces) if os.geteuid() == 0 else None
        if closed is None:
            return self.workspaces
        fallback = Path(tempfile.gettempdir())
        log.warning(
            f"workspaces go to {fallback}, outside the disk budget: the sandbox's uid cannot "
            f"pass through {closed}. Give it `chmod o+x {closed}` (passing through, not "
            "listing), or set AIOS_DATA_DIR to a directory others can pass through."
        )
        return fallback

    def usage(self) -> dict[str, int]:
        """Bytes on disk under each part: `workspaces` and `caches`."""
        return {"workspaces": tree_bytes(self.workspaces), "caches": tree_bytes(self.caches)}

    def used_bytes(self) -> int:
        return sum(self.usage().values())

    def free_bytes(self) -> int:
        return shutil.disk_usage(_existing(self.root)).free

    def check_room(self) -> None:
        """Raises DiskFull when less than `floor_bytes` is free where `root` is."""
        free = self.free_bytes()
        if free < self.floor_bytes:
            raise DiskFull(free, self.floor_bytes, self.root)


def tree_bytes(top: Path) -> int:
    """Bytes allocated (st_blocks) to `top` and everything below it, as `du` counts them: hard
    links once, symlinks never followed, files that vanish meanwhile skipped."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for st in tree_stats(top):
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        total += st.st_blocks * 512
    return total


def tree_stats(top: Path) -> Iterator[os.stat_result]:
    """`lstat` of `top` and of everything below it: symlinks never followed (an fd-relative
    walk, so a directory swapped for a link meanwhile is not entered), vanished files skipped."""
    try:
        first = os.lstat(top)
    except FileNotFoundError:
        return
    yield first
    if not stat.S_ISDIR(first.st_mode):
        return
    for _dir, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        for name in (*dirnames, *filenames):
            try:
                yield os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                continue


def format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def _size(variable: str, env: Mapping[str, str], *, of: int, default: float) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return int(default)
    if raw.endswith("%"):
        try:
            share = float(raw[:-1])
        except ValueError:
            share = -1.0
        if not 0 <= share <= 100:
            raise SettingsError(
                variable, f"must be a percentage from 0% to 100% (or a size like 20G), got {raw!r}"
            )
        return int(of * share / 100)
    match = _SIZE.match(raw)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise SettingsError(
            variable,
            f"must be a size like 20G, 500M, 1.5GiB or 1000000 (bytes), or a percentage "
            f"like 25%, got {raw!r}",
        )
    return int(float(match.group(1)) * _UNITS[unit])


def _closed_to_others(path: Path) -> Path | None:
    """The first directory from `path` up that others may not pass through (no o+x)."""
    for directory in (path, *path.parents):
        if not os.stat(directory).st_mode & stat.S_IXOTH:
            return directory
    return None


def _existing(path: Path) -> Path:
    """`path` or its nearest existing ancestor: the filesystem it is (or will be) on."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _cached_bytes(caches: Path) -> int:
    """What the setup caches hold, from their entries' recorded sizes (no walk)."""
    total = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(caches):
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                total += int(json.loads(Path(entry.path, ENTRY_META).read_bytes())["size"])
    return total
