"""Setup caches: what a setup installed (a venv, node_modules) kept between work items under
the data directory, keyed by the lock files, evicted least recently used within the budget.

An entry is `caches/<key>/` holding `entry.json` (repo, created, last_used, size, paths) and
`tree/` with the cached paths at their places in the work tree. Worker processes share the
directory: an entry appears by one rename of a finished temporary directory and disappears
by one rename out of the way, so a reader sees a whole entry or none, and an entry that
vanishes while it is read is a miss, never an error.

What is cached comes from a work tree the sandbox wrote: symlinks are copied as symlinks and
never followed, other special files are left out, and set-id bits are dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import structlog

from bot.environment.disk import ENTRY_META, DiskBudget, format_bytes, tree_bytes, tree_stats

log = structlog.get_logger(__name__)

TREE = "tree"
KEY = re.compile(r"^[0-9a-f]{64}$")
BUILDING = ".tmp-"
"""Prefix of an entry being built (renamed to its key when whole)."""
LEAVING = ".gone-"
"""Prefix of an evicted entry being removed."""
STALE_BUILD_S = 6 * 3600.0
"""A build directory untouched this long was left by a process that died: it is removed."""
KEY_VERSION = b"aios-setup-cache-1"


class CachePathError(ValueError):
    """A cache path that could reach outside the work tree (absolute, `..`, a symlinked parent)."""


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    size_bytes: int
    last_used: float


class SetupCache:
    """The setup caches under `budget.caches`, kept within `budget.budget_bytes`."""

    def __init__(self, budget: DiskBudget, *, clock: Callable[[], float] = time.time) -> None:
        self.budget = budget
        self.clock = clock

    @staticmethod
    def key(repo: str, setup: Sequence[str], lock_files: Mapping[str, bytes]) -> str:
        """sha256 over the repository, the setup commands in order and each lock file's name
        and content (by name); every part length-prefixed, so no two inputs run together."""
        digest = hashlib.sha256(KEY_VERSION)

        def part(tag: bytes, data: bytes) -> None:
            digest.update(tag + b"\0" + len(data).to_bytes(8, "big") + data)

        part(b"repo", repo.encode())
        for command in setup:
            part(b"setup", command.encode())
        for name in sorted(lock_files):
            part(b"lock-name", name.encode())
            part(b"lock", lock_files[name])
        return digest.hexdigest()

    # -- reading ---------------------------------------------------------------------------

    def restore(
        self, key: str, work_tree: Path, paths: Sequence[str], *, owner: int | None = None
    ) -> bool:
        """Copy the entry's paths into `work_tree` (those the work tree lacks); True on a hit.

        Each path lands whole or not at all (copied beside it, then renamed into place); an
        entry evicted meanwhile is a miss, and what this call had restored is removed again.
        `owner`: the uid (and gid) that gets what was restored (the sandbox's host uid).

        Raises:
            CachePathError: a path is absolute, has `..`, or has a symlinked parent.
        """
        entry = self.budget.caches / _checked_key(key)
        relatives = _checked_paths(work_tree, paths)
        if self._meta(entry) is None:
            return False
        made: list[Path] = []
        try:
            for rel in relatives:
                source = entry / TREE / rel
                target = work_tree / rel
                if not os.path.lexists(source):
                    continue
                if os.path.lexists(target):
                    log.info("setup cache: path already in the work tree", path=str(rel))
                    continue
                made += _make_parents(work_tree, rel.parent, owner)
                staging = Path(tempfile.mkdtemp(prefix=".aios-restore-", dir=target.parent))
                try:
                    _copy(source, staging / "x")
                    os.rename(staging / "x", target)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
                made.append(target)
                if owner is not None:
                    _chown_tree(target, owner)
        except OSError as exc:
            for path in reversed(made):
                _remove(path)
            log.info("setup cache: entry gone while restoring; a miss", key=key, error=str(exc))
            return False
        self._touch(entry)
        return True

    def entries(self) -> list[CacheEntry]:
        """The whole entries there are now, least recently used first."""
        found = []
        try:
            names = os.listdir(self.budget.caches)
        except FileNotFoundError:
            return []
        for name in names:
            meta = self._meta(self.budget.caches / name) if KEY.match(name) else None
            if meta is not None:
                path = self.budget.caches / name
                found.append(CacheEntry(name, path, int(meta["size"]), float(meta["last_used"])))
        return sorted(found, key=lambda e: (e.last_used, e.key))

    # -- writing ---------------------------------------------------------------------------

    def save(
        self, key: str, work_tree: Path, paths: Sequence[str], *, repo: str = ""
    ) -> CacheEntry | None:
        """Keep the existing ones of `paths` as entry `key`, then evict down to the budget.

        None when there is nothing to keep, or when the entry alone exceeds the budget. When
        the entry exists already (another worker saved it first), that one is kept and returned.

        Raises:
            CachePathError: a path is absolute, has `..`, or has a symlinked parent.
        """
        final = self.budget.caches / _checked_key(key)
        present = [r for r in _checked_paths(work_tree, paths) if os.path.lexists(work_tree / r)]
        if not present:
            return None
        if self._meta(final) is not None:
            return self._touch(final)
        # What copying will write: a sparse file is written out whole.
        cost = sum(_copy_cost(work_tree / rel) for rel in present)
        if cost > self.budget.budget_bytes:
            return self._too_big(key, cost, copied=False)
        self.budget.caches.mkdir(mode=0o700, parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f"{BUILDING}{key[:16]}-", dir=self.budget.caches))
        try:
            for rel in present:
                (building / TREE / rel).parent.mkdir(parents=True, exist_ok=True)
                _copy(work_tree / rel, building / TREE / rel)
            now = self.clock()
            meta = {"repo": repo, "created": now, "last_used": now, "size": 0}
            meta["paths"] = [str(rel) for rel in present]
            _write_meta(building, meta)
            meta["size"] = tree_bytes(building)
            _write_meta(building, meta)
            if meta["size"] > self.budget.budget_bytes:
                return self._too_big(key, meta["size"], copied=True)
            try:
                os.rename(building, final)
            except OSError:  # the same key was saved meanwhile: the first one stays
                return self._touch(final)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        log.info("setup cache saved", key=key, repo=repo, size=format_bytes(meta["size"]))
        entry = CacheEntry(key, final, meta["size"], now)
        self._evict(keep=key)
        return entry

    def evict(self) -> list[CacheEntry]:
        """Remove least recently used entries until AIOS's use is within the budget."""
        return self._evict(keep=None)

    def _evict(self, keep: str | None) -> list[CacheEntry]:
        self._sweep()
        used = self.budget.used_bytes()
        evicted: list[CacheEntry] = []
        for entry in self.entries():
            if used <= self.budget.budget_bytes:
                break
            if entry.key == keep or not _take_away(entry.path, self.budget.caches):
                continue
            used -= entry.size_bytes
            evicted.append(entry)
            log.info("setup cache evicted", key=entry.key, size=format_bytes(entry.size_bytes))
        return evicted

    def _sweep(self) -> None:
        """Remove what evictions left half-removed and builds of processes that died."""
        try:
            names = os.listdir(self.budget.caches)
        except FileNotFoundError:
            return
        now = time.time()  # file times are wall-clock times, whatever `clock` says
        for name in names:
            path = self.budget.caches / name
            if name.startswith(LEAVING):
                shutil.rmtree(path, ignore_errors=True)
            elif name.startswith(BUILDING):
                try:
                    stale = now - os.lstat(path).st_mtime > STALE_BUILD_S
                except FileNotFoundError:
                    continue
                if stale:
                    shutil.rmtree(path, ignore_errors=True)

    def _too_big(self, key: str, size: int, *, copied: bool) -> None:
        log.warning(
            "setup cache not kept: the entry alone is larger than the disk budget",
            key=key,
            copied=copied,
            size=format_bytes(size),
            budget=format_bytes(self.budget.budget_bytes),
            hint="raise AIOS_DISK_BUDGET to keep it",
        )

    def _meta(self, entry: Path) -> dict[str, Any] | None:
        try:
            meta = json.loads((entry / ENTRY_META).read_bytes())
            meta["last_used"], meta["size"] = float(meta["last_used"]), int(meta["size"])
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return meta

    def _touch(self, entry: Path) -> CacheEntry | None:
        """Mark `entry` used now (the LRU order); None when it is gone."""
        meta = self._meta(entry)
        if meta is None:
            return None
        meta["last_used"] = self.clock()
        try:
            _write_meta(entry, meta)
        except OSError:  # evicted meanwhile
            return None
        return CacheEntry(entry.name, entry, int(meta["size"]), meta["last_used"])


def _checked_key(key: str) -> str:
    if not KEY.match(key):
        raise ValueError(f"{key!r} is not a setup cache key (64 hex digits)")
    return key


def _checked_paths(work_tree: Path, paths: Sequence[str]) -> list[PurePosixPath]:
    """`paths` as relative paths whose parents in `work_tree` are real directories (or
    missing): a symlinked parent would take a copy outside the work tree."""
    checked = []
    for path in paths:
        rel = PurePosixPath(path)
        if not path or rel.is_absolute() or ".." in rel.parts or rel == PurePosixPath("."):
            raise CachePathError(
                f"cache path {path!r} must be relative to the repository, without '..'"
            )
        here = work_tree
        for part in rel.parent.parts:
            here = here / part
            try:
                mode = os.lstat(here).st_mode
            except FileNotFoundError:
                break
            if not stat.S_ISDIR(mode):
                raise CachePathError(
                    f"cache path {path!r}: {part!r} in the work tree is a symlink or a file, "
                    "not a directory"
                )
        checked.append(rel)
    return checked


def _make_parents(work_tree: Path, rel: PurePosixPath, owner: int | None) -> list[Path]:
    made = []
    here = work_tree
    for part in rel.parts:
        here = here / part
        if not os.path.lexists(here):
            here.mkdir()
            made.append(here)
            if owner is not None:
                os.chown(here, owner, owner, follow_symlinks=False)
    return made


def _copy(source: Path, target: Path) -> None:
    """Copy a file, symlink or directory tree without following any symlink."""
    mode = os.lstat(source).st_mode
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISDIR(mode):
        shutil.copytree(
            source, target, symlinks=True, ignore=_special_files, copy_function=_copy_file
        )
        os.chmod(target, stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID))
    elif stat.S_ISREG(mode):
        _copy_file(source, target)


def _copy_file(source: str | Path, target: str | Path) -> None:
    """A regular file with its mode (set-id bits dropped) and times."""
    shutil.copyfile(source, target, follow_symlinks=False)
    st = os.lstat(source)
    os.chmod(target, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _special_files(directory: str, names: list[str]) -> set[str]:
    """Names copytree must skip: fifos (reading one blocks), sockets and devices."""
    skipped = set()
    for name in names:
        try:
            mode = os.lstat(os.path.join(directory, name)).st_mode
        except FileNotFoundError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            skipped.add(name)
    return skipped


def _copy_cost(top: Path) -> int:
    """Bytes a copy of `top` writes at most: apparent sizes (a sparse file is written out
    whole) or allocated blocks, whichever is more, plus the directories."""
    return sum(max(st.st_size, st.st_blocks * 512) for st in tree_stats(top))


def _write_meta(entry: Path, meta: dict[str, Any]) -> None:
    """Replace `entry`'s metadata in one rename: readers see the old or the new file."""
    fd, temporary = tempfile.mkstemp(prefix=".entry-", dir=entry)
    with os.fdopen(fd, "w") as out:
        json.dump(meta, out)
    os.replace(temporary, entry / ENTRY_META)


def _take_away(entry: Path, caches: Path) -> bool:
    """Rename the entry out of the way (readers miss it from now on), then remove it; False
    when another process took it first."""
    leaving = caches / f"{LEAVING}{entry.name[:16]}-{os.urandom(6).hex()}"
    try:
        os.rename(entry, leaving)
    except FileNotFoundError:
        return False
    shutil.rmtree(leaving, ignore_errors=True)
    return True


def _chown_tree(top: Path, uid: int) -> None:
    """Give `top` and everything below it to `uid`, never following a symlink."""
    os.chown(top, uid, uid, follow_symlinks=False)
    if not stat.S_ISDIR(os.lstat(top).st_mode):
        return
    for _dir, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        for name in (*dirnames, *filenames):
            os.chown(name, uid, uid, dir_fd=dirfd, follow_symlinks=False)


def _remove(path: Path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
