"""Setup caches: keyed by the lock files, restored whole with symlinks as symlinks, evicted
least recently used within the disk budget, shared safely by several processes."""

from __future__ import annotations

import multiprocessing
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.environment.cache import CachePathError, SetupCache
from bot.environment.disk import DiskBudget

REPO = "octo/hello"
SETUP = ["python -m venv .venv", "python -m pip install -e ."]
LOCKS = {"requirements.txt": b"requests==2.32.3\n", "pyproject.toml": b"[project]\nname='x'\n"}


class Clock:
    """Each call is one second later: LRU order without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def budget(root: Path, budget_bytes: int = 1 << 30) -> DiskBudget:
    return DiskBudget(root=root, budget_bytes=budget_bytes, floor_bytes=0)


def venv_tree(work_tree: Path, payload: int = 64 * 1024) -> None:
    """A venv-like `.venv`: an absolute symlink to the interpreter, a relative one, an
    executable script, a package file of `payload` random bytes."""
    bin_dir = work_tree / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    os.symlink("/usr/bin/python3", bin_dir / "python")
    os.symlink("python", bin_dir / "python3")
    script = bin_dir / "pytest"
    script.write_text("#!/bin/sh\necho ok\n")
    script.chmod(0o755)
    package = work_tree / ".venv" / "lib" / "site-packages" / "pkg"
    package.mkdir(parents=True)
    (package / "data.bin").write_bytes(os.urandom(payload))
    (work_tree / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    os.chmod(work_tree / ".venv" / "pyvenv.cfg", 0o600)


def fresh(tmp_path: Path, name: str) -> Path:
    tree = tmp_path / name
    tree.mkdir()
    return tree


# --- the key ---------------------------------------------------------------------------------


def test_the_key_changes_with_any_lock_byte_setup_command_or_repo() -> None:
    base = SetupCache.key(REPO, SETUP, LOCKS)
    assert base == SetupCache.key(REPO, list(SETUP), dict(reversed(LOCKS.items())))
    changed_byte = {**LOCKS, "requirements.txt": b"requests==2.32.4\n"}
    variants = [
        SetupCache.key(REPO, SETUP, changed_byte),
        SetupCache.key(REPO, SETUP, {**LOCKS, "uv.lock": b""}),
        SetupCache.key(REPO, SETUP, {"requirements.txt": LOCKS["requirements.txt"]}),
        SetupCache.key(REPO, [*SETUP, "npm ci"], LOCKS),
        SetupCache.key(REPO, list(reversed(SETUP)), LOCKS),
        SetupCache.key(REPO, ["python -m venv .venvpython -m pip install -e ."], LOCKS),
        SetupCache.key("octo/other", SETUP, LOCKS),
        # A name and a content that run together differently are still different files.
        SetupCache.key(REPO, SETUP, {"a": b"bc"}),
    ]
    assert SetupCache.key(REPO, SETUP, {"ab": b"c"}) not in variants
    assert len({base, *variants}) == len(variants) + 1


# --- save and restore ------------------------------------------------------------------------


def test_a_saved_venv_comes_back_with_its_symlinks_modes_and_contents(tmp_path: Path) -> None:
    cache = SetupCache(budget(tmp_path / "data"))
    first = fresh(tmp_path, "first")
    venv_tree(first)
    key = SetupCache.key(REPO, SETUP, LOCKS)

    entry = cache.save(key, first, [".venv", "node_modules"], repo=REPO)

    assert entry is not None and entry.path == tmp_path / "data" / "env-cache" / key
    second = fresh(tmp_path, "second")
    assert cache.restore(key, second, [".venv", "node_modules"]) is True
    bin_dir = second / ".venv" / "bin"
    assert os.readlink(bin_dir / "python") == "/usr/bin/python3"  # a link, not a copy
    assert os.readlink(bin_dir / "python3") == "python"
    assert stat.S_IMODE(os.lstat(bin_dir / "pytest").st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(second / ".venv" / "pyvenv.cfg").st_mode) == 0o600
    data = Path(".venv/lib/site-packages/pkg/data.bin")
    assert (second / data).read_bytes() == (first / data).read_bytes()
    assert not (second / "node_modules").exists()
    assert sorted(p.name for p in second.iterdir()) == [".venv"]  # no staging left behind
    assert cache.restore(SetupCache.key(REPO, SETUP, {}), fresh(tmp_path, "x"), [".venv"]) is False


def test_restore_hands_what_it_restored_to_the_owner(tmp_path: Path) -> None:
    """As root, AIOS gives what it restored to the sandbox's host uid, links included, and
    never what a link points to."""
    owner = 54321 if os.geteuid() == 0 else os.geteuid()
    cache = SetupCache(budget(tmp_path / "data"))
    work = fresh(tmp_path, "work")
    venv_tree(work)
    outside = tmp_path / "outside.txt"
    outside.write_text("not the work tree's")
    os.symlink(outside, work / ".venv" / "bin" / "outside")
    key = SetupCache.key(REPO, SETUP, LOCKS)
    cache.save(key, work, [".venv"])
    target = fresh(tmp_path, "target")

    assert cache.restore(key, target, ["tools/app/.venv", ".venv"], owner=owner)

    owners = {os.lstat(p).st_uid for p in [target / ".venv", *(target / ".venv").rglob("*")]}
    assert owners == {owner}
    assert os.stat(outside).st_uid == os.geteuid()


def test_set_id_bits_and_special_files_are_not_cached(tmp_path: Path) -> None:
    cache = SetupCache(budget(tmp_path / "data"))
    work = fresh(tmp_path, "work")
    venv_tree(work)
    suid = work / ".venv" / "bin" / "suid"
    suid.write_text("#!/bin/sh\n")
    suid.chmod(0o4755)
    os.mkfifo(work / ".venv" / "pipe")  # copying would block on reading it
    key = SetupCache.key(REPO, SETUP, LOCKS)

    cache.save(key, work, [".venv"])

    saved = tmp_path / "data" / "env-cache" / key / "tree" / ".venv"
    assert stat.S_IMODE(os.lstat(saved / "bin" / "suid").st_mode) == 0o755
    assert not os.path.lexists(saved / "pipe")


@pytest.mark.parametrize("path", ["/etc", "../outside", "a/../../b", "", "."])
def test_a_path_outside_the_work_tree_is_refused(tmp_path: Path, path: str) -> None:
    cache = SetupCache(budget(tmp_path / "data"))
    work = fresh(tmp_path, "work")
    key = SetupCache.key(REPO, SETUP, LOCKS)
    with pytest.raises(CachePathError):
        cache.save(key, work, [path])
    with pytest.raises(CachePathError):
        cache.restore(key, work, [path])


def test_a_symlinked_parent_in_the_work_tree_is_refused(tmp_path: Path) -> None:
    cache = SetupCache(budget(tmp_path / "data"))
    work = fresh(tmp_path, "work")
    venv_tree(work / "app")
    key = SetupCache.key(REPO, SETUP, LOCKS)
    assert cache.save(key, work, ["app/.venv"]) is not None
    elsewhere = fresh(tmp_path, "elsewhere")
    target = fresh(tmp_path, "target")
    os.symlink(elsewhere, target / "app")  # the sandbox made `app` a link out of the tree

    with pytest.raises(CachePathError, match="symlink"):
        cache.restore(key, target, ["app/.venv"])
    with pytest.raises(CachePathError, match="symlink"):
        cache.save(key, target, ["app/.venv"])
    assert list(elsewhere.iterdir()) == []


def test_a_top_level_symlink_is_cached_as_a_link_not_followed(tmp_path: Path) -> None:
    cache = SetupCache(budget(tmp_path / "data"))
    work = fresh(tmp_path, "work")
    secret = fresh(tmp_path, "host-dir")
    (secret / "private").write_text("host data")
    os.symlink(secret, work / "node_modules")
    key = SetupCache.key(REPO, SETUP, LOCKS)

    cache.save(key, work, ["node_modules"])

    saved = tmp_path / "data" / "env-cache" / key / "tree" / "node_modules"
    assert os.readlink(saved) == str(secret)


def test_restore_skips_a_path_the_work_tree_has(tmp_path: Path) -> None:
    cache = SetupCache(budget(tmp_path / "data"))
    work = fresh(tmp_path, "work")
    venv_tree(work)
    (work / "node_modules").mkdir()
    (work / "node_modules" / "left-pad.js").write_text("cached")
    key = SetupCache.key(REPO, SETUP, LOCKS)
    cache.save(key, work, [".venv", "node_modules"])
    target = fresh(tmp_path, "target")
    (target / ".venv").mkdir()
    (target / ".venv" / "mine").write_text("the work tree's own")

    assert cache.restore(key, target, [".venv", "node_modules"]) is True

    assert [p.name for p in (target / ".venv").iterdir()] == ["mine"]
    assert (target / "node_modules" / "left-pad.js").read_text() == "cached"


# --- the budget ------------------------------------------------------------------------------


def saved_size(tmp_path: Path) -> int:
    """What one venv_tree entry takes on this filesystem."""
    work = fresh(tmp_path, "measure")
    venv_tree(work)
    entry = SetupCache(budget(tmp_path / "measure-data")).save("0" * 64, work, [".venv"])
    assert entry is not None
    return entry.size_bytes


def test_the_least_recently_used_entry_goes_and_the_one_just_restored_stays(
    tmp_path: Path,
) -> None:
    size = saved_size(tmp_path)
    clock = Clock()
    cache = SetupCache(budget(tmp_path / "data", budget_bytes=size * 5 // 2), clock=clock)
    keys = [SetupCache.key(REPO, SETUP, {"lock": bytes([n])}) for n in range(3)]
    trees = [fresh(tmp_path, f"w{n}") for n in range(3)]
    for tree in trees:
        venv_tree(tree)
    assert cache.save(keys[0], trees[0], [".venv"]) is not None
    assert cache.save(keys[1], trees[1], [".venv"]) is not None
    # The first entry is older but used again: the second is now the least recently used.
    assert cache.restore(keys[0], fresh(tmp_path, "again"), [".venv"])

    with capture_logs() as logs:
        assert cache.save(keys[2], trees[2], [".venv"]) is not None

    assert [e.key for e in cache.entries()] == [keys[0], keys[2]]
    assert not (tmp_path / "data" / "env-cache" / keys[1]).exists()
    assert [e["key"] for e in logs if e["event"] == "setup cache evicted"] == [keys[1]]
    assert cache.budget.used_bytes() <= cache.budget.budget_bytes


def test_evict_counts_live_workspaces_and_keeps_within_the_budget(tmp_path: Path) -> None:
    size = saved_size(tmp_path)
    cache = SetupCache(budget(tmp_path / "data", budget_bytes=size * 3), clock=Clock())
    for n in range(2):
        work = fresh(tmp_path, f"w{n}")
        venv_tree(work)
        cache.save(SetupCache.key(REPO, SETUP, {"lock": bytes([n])}), work, [".venv"])
    assert cache.evict() == []
    # A job's workspace grows under the data directory: the caches make room for it.
    venv_tree(cache.budget.workspaces / "aios-job-1" / "repo", payload=size)

    evicted = cache.evict()

    assert len(evicted) == 1 and len(cache.entries()) == 1
    assert cache.budget.used_bytes() <= cache.budget.budget_bytes


def test_an_entry_larger_than_the_budget_is_not_kept(tmp_path: Path) -> None:
    cache = SetupCache(budget(tmp_path / "data", budget_bytes=16 * 1024))
    work = fresh(tmp_path, "work")
    venv_tree(work)

    with capture_logs() as logs:
        assert cache.save(SetupCache.key(REPO, SETUP, LOCKS), work, [".venv"]) is None

    assert cache.entries() == []
    assert list((tmp_path / "data" / "env-cache").glob("*")) == []
    [warning] = [e for e in logs if e["log_level"] == "warning"]
    assert "larger than the disk budget" in warning["event"]
    assert warning["hint"] == "raise AIOS_DISK_BUDGET to keep it"


def test_a_sparse_file_counts_at_its_full_size(tmp_path: Path) -> None:
    """A copy writes a sparse file out whole: its apparent size decides, not its blocks."""
    cache = SetupCache(budget(tmp_path / "data", budget_bytes=1 << 20))
    work = fresh(tmp_path, "work")
    (work / ".venv").mkdir()
    with (work / ".venv" / "huge").open("wb") as sparse:
        sparse.truncate(64 << 20)  # 64 MiB of nothing, next to no blocks
    with capture_logs() as logs:
        assert cache.save(SetupCache.key(REPO, SETUP, LOCKS), work, [".venv"]) is None
    [warning] = [e for e in logs if e["log_level"] == "warning"]
    assert warning["copied"] is False  # judged before a byte was written
    assert list((tmp_path / "data" / "env-cache").glob("*")) == []


def test_nothing_to_save_keeps_nothing(tmp_path: Path) -> None:
    cache = SetupCache(budget(tmp_path / "data"))
    assert cache.save(SetupCache.key(REPO, SETUP, LOCKS), fresh(tmp_path, "w"), [".venv"]) is None
    assert cache.entries() == []


def test_leftovers_of_dead_processes_are_swept(tmp_path: Path) -> None:
    cache = SetupCache(budget(tmp_path / "data"))
    caches = tmp_path / "data" / "env-cache"
    for name in (".gone-abc", ".tmp-old", ".tmp-building-now"):
        (caches / name / "tree").mkdir(parents=True)
    os.utime(caches / ".tmp-old", (0, 0))

    cache.evict()

    assert sorted(p.name for p in caches.iterdir()) == [".tmp-building-now"]


# --- several processes -----------------------------------------------------------------------


def save_in_process(data: str, work: str, key: str, start: Callable[[], object]) -> None:
    start()
    entry = SetupCache(budget(Path(data))).save(key, Path(work), [".venv"])
    assert entry is not None and entry.key == key


def test_two_processes_saving_one_key_leave_one_whole_entry(tmp_path: Path) -> None:
    work = fresh(tmp_path, "work")
    venv_tree(work, payload=8 << 20)
    key = SetupCache.key(REPO, SETUP, LOCKS)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    args = (str(tmp_path / "data"), str(work), key, barrier.wait)
    processes = [spawn.Process(target=save_in_process, args=args) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [p.exitcode for p in processes] == [0, 0]
    assert [p.name for p in (tmp_path / "data" / "env-cache").iterdir()] == [key]
    target = fresh(tmp_path, "target")
    assert SetupCache(budget(tmp_path / "data")).restore(key, target, [".venv"])
    data = Path(".venv/lib/site-packages/pkg/data.bin")
    assert (target / data).read_bytes() == (work / data).read_bytes()
