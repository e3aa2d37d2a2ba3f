"""The disk budget: AIOS_DISK_BUDGET and AIOS_DISK_FLOOR parsed, AIOS's use measured as `du`
measures it, and a job that refuses to start (before cloning) when the disk is below the
floor; finished jobs leave no workspace behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.agents.config import AgentConfig
from bot.environment.disk import DiskBudget, DiskFull
from bot.jobs.checkout import checkout
from bot.runtime.context import WorkerContext
from bot.settings import Settings, SettingsError
from bot.workitem.item import WorkItem
from tests.test_workspace import seed_remote

GIB = 1 << 30


def du(*paths: Path) -> int:
    """Bytes allocated under `paths`, by coreutils' du (hard links once, links not followed)."""
    done = subprocess.run(
        ["du", "-s", "-B1", "-c", *map(str, paths)], capture_output=True, text=True, check=True
    )
    return int(done.stdout.splitlines()[-1].split()[0])


# --- the settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20G", 20 * GIB),
        ("500M", 500 << 20),
        ("1.5GiB", 3 * GIB // 2),
        (" 2 gb ", 2_000_000_000),
        ("750k", 750 << 10),
        ("1000000", 1_000_000),
        ("0", 0),
        ("1T", 1 << 40),
    ],
)
def test_sizes_take_units(tmp_path: Path, raw: str, expected: int) -> None:
    budget = DiskBudget.from_env({"AIOS_DISK_BUDGET": raw, "AIOS_DISK_FLOOR": raw}, tmp_path)
    assert (budget.budget_bytes, budget.floor_bytes) == (expected, expected)


def test_percentages_are_of_what_is_free_for_the_budget_and_of_the_disk_for_the_floor(
    tmp_path: Path,
) -> None:
    before = shutil.disk_usage(tmp_path)
    budget = DiskBudget.from_env({"AIOS_DISK_BUDGET": "40%", "AIOS_DISK_FLOOR": "5%"}, tmp_path)
    after = shutil.disk_usage(tmp_path)
    slack = 64 << 20  # other processes write to this disk meanwhile
    low, high = sorted((before.free, after.free))
    assert low * 0.4 - slack <= budget.budget_bytes <= high * 0.4 + slack
    assert budget.floor_bytes == int(before.total * 0.05)


def test_by_default_a_quarter_of_what_aios_could_use_and_a_gib_floor(tmp_path: Path) -> None:
    data = tmp_path / "data"
    free = shutil.disk_usage(tmp_path).free
    plain = DiskBudget.from_env({}, data)
    assert abs(plain.budget_bytes - free // 4) <= 64 << 20
    assert plain.floor_bytes == GIB
    assert plain.root == data and plain.root.is_absolute()
    # What the caches already hold counts as usable: a restart does not shrink the budget.
    entry = data / "env-cache" / ("a" * 64)
    entry.mkdir(parents=True)
    (entry / "entry.json").write_text(f'{{"size": {400 * GIB}, "last_used": 1}}')
    assert DiskBudget.from_env({}, data).budget_bytes >= 100 * GIB


@pytest.mark.parametrize("raw", ["lots", "-1G", "20X", "1..5G", "150%", "-5%", "%", "G"])
@pytest.mark.parametrize("variable", ["AIOS_DISK_BUDGET", "AIOS_DISK_FLOOR"])
def test_a_malformed_size_names_its_variable(tmp_path: Path, variable: str, raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        DiskBudget.from_env({variable: raw}, tmp_path)
    assert caught.value.variable == variable
    assert repr(raw) in caught.value.problem and "20G" in caught.value.problem


def test_the_agents_settings_carry_the_budget_of_their_data_directory(tmp_path: Path) -> None:
    env = {"AIOS_DATA_DIR": str(tmp_path / "d"), "AIOS_DISK_BUDGET": "3G"}
    disk = AgentConfig.from_env(env).disk
    assert disk is not None and (disk.root, disk.budget_bytes) == (tmp_path / "d", 3 * GIB)
    with pytest.raises(SettingsError, match="AIOS_DISK_FLOOR"):
        AgentConfig.from_env({"AIOS_DISK_FLOOR": "a lot"})


# --- measuring -------------------------------------------------------------------------------


def test_used_bytes_counts_workspaces_and_caches_as_du_does(tmp_path: Path) -> None:
    budget = DiskBudget(tmp_path / "data", budget_bytes=GIB, floor_bytes=0)
    work = budget.workspaces / "aios-job-1" / "repo"
    work.mkdir(parents=True)
    (work / "big.bin").write_bytes(os.urandom(300_000))
    os.link(work / "big.bin", work / "same.bin")  # one file, two names
    outside = tmp_path / "outside.bin"
    outside.write_bytes(os.urandom(1_000_000))
    os.symlink(outside, work / "link")  # the link counts, not what it points to
    os.symlink(tmp_path, work / "loop")
    cached = budget.caches / ("b" * 64) / "tree"
    cached.mkdir(parents=True)
    (cached / "pkg.bin").write_bytes(os.urandom(200_000))
    (tmp_path / "data" / "redis").mkdir()
    (tmp_path / "data" / "redis" / "appendonly.aof").write_bytes(os.urandom(500_000))

    assert budget.usage() == {"workspaces": du(budget.workspaces), "caches": du(budget.caches)}
    assert budget.used_bytes() == du(budget.workspaces, budget.caches)
    assert 500_000 < budget.used_bytes() < 1_000_000
    assert DiskBudget(tmp_path / "nothing", GIB, 0).used_bytes() == 0


def test_used_bytes_survives_files_vanishing_while_it_walks(tmp_path: Path) -> None:
    budget = DiskBudget(tmp_path / "data", budget_bytes=GIB, floor_bytes=0)
    churn = budget.workspaces / "aios-job-1" / "repo"
    churn.mkdir(parents=True)
    # Another process creates and removes files and directories until its stdin closes.
    script = (
        "import os, shutil, sys, select\n"
        f"top = {str(churn)!r}\n"
        "n = 0\n"
        "print('go', flush=True)\n"
        "while not select.select([sys.stdin], [], [], 0)[0]:\n"
        "    d = os.path.join(top, f'd{n % 50}')\n"
        "    shutil.rmtree(d, ignore_errors=True)\n"
        "    os.makedirs(os.path.join(d, 'x', 'y'), exist_ok=True)\n"
        "    open(os.path.join(d, 'x', 'y', 'f'), 'w').close()\n"
        "    n += 1\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "go\n"
        for _ in range(300):
            assert budget.used_bytes() >= 0
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


# --- the floor -------------------------------------------------------------------------------


def test_check_room_refuses_below_the_floor_and_says_what_to_change(tmp_path: Path) -> None:
    floor = shutil.disk_usage(tmp_path).free + (1 << 50)
    DiskBudget(tmp_path, budget_bytes=GIB, floor_bytes=0).check_room()
    with pytest.raises(DiskFull) as caught:
        DiskBudget(tmp_path / "not-yet", budget_bytes=GIB, floor_bytes=floor).check_room()
    message = str(caught.value)
    assert "AIOS_DISK_FLOOR" in message and "AIOS_DISK_BUDGET" in message
    assert str(tmp_path / "not-yet") in message and "AIOS_DATA_DIR" in message
    assert "TiB (AIOS_DISK_FLOOR)" in message  # in units people read
    assert caught.value.floor_bytes == floor


# --- jobs' checkouts -------------------------------------------------------------------------


class TokenContext(WorkerContext):
    """A job context whose token minting (a GitHub API call) is stood in for: counted."""

    minted = 0

    async def installation_token(self, installation_id: int, *, extra: object = None) -> str:
        self.minted += 1
        return "ghs_test-token"


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data directory the sandbox's uid could pass through (pytest's own tmp is 0700)."""
    top = Path(tempfile.mkdtemp(prefix="aios-disk-test-"))
    top.chmod(0o711)
    monkeypatch.setenv("AIOS_DATA_DIR", str(top / "data"))
    monkeypatch.setenv("AIOS_DISK_BUDGET", "1G")
    yield top / "data"
    shutil.rmtree(top)


def job(remote: str) -> tuple[TokenContext, WorkItem]:
    ctx = TokenContext(settings=Settings(git_base_url=remote), redis=None, jobs=None)  # type: ignore[arg-type]
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return ctx, WorkItem.new("acme/widgets", 1, 7, title="t", created_by="alice", at=at)


async def test_a_finished_checkout_leaves_no_workspace_behind(
    tmp_path: Path, data_dir: Path
) -> None:
    ctx, item = job(seed_remote(tmp_path / "remotes"))

    async with checkout(ctx, item) as workspace:
        assert workspace.root.parent == data_dir / "workspaces"
        assert (workspace.path / "README.md").read_text() == "# widgets\n"
        assert oct((data_dir / "workspaces").stat().st_mode & 0o777) == oct(0o711)
        assert DiskBudget(data_dir, GIB, 0).usage()["workspaces"] > 0

    assert ctx.minted == 1
    assert list((data_dir / "workspaces").iterdir()) == []


async def test_a_failed_job_leaves_no_workspace_behind(tmp_path: Path, data_dir: Path) -> None:
    ctx, item = job(seed_remote(tmp_path / "remotes"))
    with pytest.raises(RuntimeError, match="agent crashed"):
        async with checkout(ctx, item):
            raise RuntimeError("agent crashed")
    assert list((data_dir / "workspaces").iterdir()) == []


def test_as_root_under_a_closed_directory_workspaces_go_to_tmp_and_say_why(
    tmp_path: Path,
) -> None:
    """pytest's tmp is 0700: the sandbox's uid could not pass through it."""
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    budget = DiskBudget(closed / "data", GIB, 0)
    with capture_logs() as logs:
        where = budget.make_workspaces()
    if os.geteuid() != 0:  # the sandbox runs as AIOS's own uid: nothing to pass through
        assert where == budget.workspaces
        return
    assert where == Path(tempfile.gettempdir())
    [warning] = [e for e in logs if e["log_level"] == "warning"]
    assert f"chmod o+x {closed}" in warning["event"]
