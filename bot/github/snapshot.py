"""The uncommitted state of a checkout as bytes, and back: what an agent changed so far.

An agent checkpoint pairs the conversation with the work tree it describes. `take` packs
every file git sees as changed, added or deleted since HEAD (ignored files are left out,
as a commit would leave them) into a gzipped tar; `restore` unpacks it onto a fresh clone
of the same commit. Tar rather than `git diff`: it keeps bytes, modes and symlinks exactly,
and Python's `data` extraction filter refuses anything that would land outside the tree.
"""

from __future__ import annotations

import io
import json
import tarfile

from bot.github.workspace import Workspace

DELETED = ".aios-snapshot-deleted.json"
"""The member listing paths deleted since HEAD; no repository path starts with it."""

MAX_BYTES = 8 * 1024 * 1024
"""A bigger snapshot is not taken: the caller keeps its previous, smaller checkpoint."""


class SnapshotError(RuntimeError):
    """The snapshot is too big, or cannot be restored onto this checkout."""


async def take(workspace: Workspace) -> bytes:
    """The work tree's changes since HEAD, as a gzipped tar (at most `MAX_BYTES`)."""
    changed, deleted = await _status(workspace)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in changed:
            path = workspace.path / name
            if path.is_symlink() or path.is_file():
                tar.add(path, arcname=name, recursive=False)
        listing = json.dumps(deleted).encode()
        info = tarfile.TarInfo(DELETED)
        info.size = len(listing)
        tar.addfile(info, io.BytesIO(listing))
    data = buffer.getvalue()
    if len(data) > MAX_BYTES:
        raise SnapshotError(f"the changes take {len(data)} bytes packed (limit {MAX_BYTES})")
    return data


async def restore(workspace: Workspace, data: bytes) -> None:
    """Put a snapshot's changes onto `workspace` (a clean checkout of the same commit).

    On failure the work tree is put back to its commit before SnapshotError is raised.
    """
    try:
        _unpack(workspace, data)
    except SnapshotError:
        await workspace.discard_changes()
        raise


def _unpack(workspace: Workspace, data: bytes) -> None:
    root = workspace.path
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.extractfile(DELETED)
            deleted = json.loads(member.read()) if member is not None else []
            for name in deleted:
                target = (root / name).resolve()
                if target.is_relative_to(root.resolve()) and target.is_file():
                    target.unlink()
            members = [m for m in tar.getmembers() if m.name != DELETED]
            tar.extractall(root, members=members, filter="data")
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise SnapshotError(f"cannot restore the snapshot: {exc}") from exc


async def _status(workspace: Workspace) -> tuple[list[str], list[str]]:
    """(changed or added, deleted) paths relative to the work tree, against HEAD.

    Through the workspace's own git (its git directory named, its configuration checked):
    git found from the work tree would obey a `.git` file a sandboxed command wrote, and
    refuses a tree the sandbox's uid owns ("dubious ownership")."""
    changed: list[str] = []
    deleted: list[str] = []
    for entry in await workspace.status_entries():
        if len(entry) < 4:
            continue
        code, name = entry[:2], entry[3:]
        (deleted if "D" in code else changed).append(name)
    return changed, deleted
