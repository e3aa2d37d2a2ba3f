"""Agent checkpoints: a run continued in a fresh checkout asks nothing twice, byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from bot.agents.checkpoint import LoopState
from bot.agents.ledger import RedisLedger
from bot.agents.loop import StopReason, run_agent
from bot.github import snapshot
from bot.github.workspace import Workspace
from bot.testbed.llm import ScriptedModel
from bot.testbed.turns import Turn, call, finish
from tests.test_agent_loop import SCOPE, make_runtime
from tests.test_workspace import seed_remote

FILES = {"calc.py": "def add(a, b):\n    return a - b\n", "old.txt": "going\n"}


@pytest.fixture
async def ledger(redis_url: str) -> AsyncIterator[RedisLedger]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield RedisLedger(client)
    await client.aclose()


@pytest.fixture
def remote(tmp_path: Path) -> str:
    return seed_remote(tmp_path / "remotes", "acme/calc", FILES)


@pytest.fixture
async def clones(remote: str) -> AsyncIterator[list[Workspace]]:
    """Fresh checkouts of the same commit: one per attempt of a job."""
    made: list[Workspace] = []

    async def clone() -> Workspace:
        ws = await Workspace.clone("acme/calc", git_base_url=remote)
        made.append(ws)
        return ws

    await clone()
    await clone()
    yield made
    for ws in made:
        ws.cleanup()


async def test_a_resumed_run_repeats_the_interrupted_request_exactly(
    clones: list[Workspace],
    ledger: RedisLedger,
    data_dir: Path,
) -> None:
    first, second = clones
    fix = call("edit_file", path="calc.py", old="return a - b", new="return a + b")
    model = ScriptedModel([Turn("Fixing.", [fix]), Turn("Checking.", [call("list_files")])])
    saved: list[tuple[LoopState, bytes]] = []

    async def save(state: LoopState) -> None:
        saved.append((state, await snapshot.take(first)))

    # The first attempt dies in its third model call (the script has no third turn, which
    # every model route answers alike: the models are unavailable, the job is retried later).
    result = await run_agent(
        "backend",
        "Fix add()",
        first.path,
        runtime=make_runtime(model, ledger, data_dir),
        scope=SCOPE,
        on_checkpoint=save,
    )
    assert result.status is StopReason.MODELS_UNAVAILABLE
    assert [state.steps for state, _ in saved] == [1, 2]
    state, packed = saved[-1]
    interrupted = model.requests[2].body  # the third call (its fallbacks were asked after it)
    before = len(model.requests)

    # The second attempt: another process, a fresh clone, the repository context changed.
    await snapshot.restore(second, packed)
    assert (second.path / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    model.script.append(finish("Fixed add()."))
    state = LoopState.from_dict(json.loads(json.dumps(state.to_dict())))
    resumed = await run_agent(
        "backend",
        "Fix add()",
        second.path,
        runtime=make_runtime(model, ledger, data_dir),
        scope=SCOPE,
        context="Other instructions that would change the prompt prefix.",
        resume=state,
    )
    assert model.requests[before].body == interrupted
    assert resumed.status is StopReason.FINISHED and resumed.summary == "Fixed add()."
    assert resumed.steps == 3 and resumed.files_changed == ("calc.py",)
    assert resumed.usage.output_tokens > state.usage.output_tokens > 0


async def test_a_finished_run_resumes_without_a_model_call(
    clones: list[Workspace],
    ledger: RedisLedger,
    data_dir: Path,
) -> None:
    model = ScriptedModel([finish("All done.")])
    saved: list[LoopState] = []

    async def save(state: LoopState) -> None:
        saved.append(state)

    runtime = make_runtime(model, ledger, data_dir)
    await run_agent(
        "qa", "Review", clones[0].path, runtime=runtime, scope=SCOPE, on_checkpoint=save
    )
    assert saved[-1].finished == "All done."
    again = await run_agent(
        "qa", "Review", clones[1].path, runtime=runtime, scope=SCOPE, resume=saved[-1]
    )
    assert (again.status, again.summary, len(model.requests)) == (
        StopReason.FINISHED,
        "All done.",
        1,
    )


async def test_a_snapshot_carries_bytes_modes_links_and_deletions(clones: list[Workspace]) -> None:
    first, second = clones
    root = first.path
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(b"\xff\xfe not utf-8 \x00\n")
    os.chmod(root / "bin" / "tool", 0o700)
    (root / "calc.py").write_text("changed\n")
    (root / "old.txt").unlink()
    os.symlink("calc.py", root / "link.py")
    (root / ".gitignore").write_text("build/\n")
    (root / "build").mkdir()
    (root / "build" / "huge.bin").write_bytes(b"ignored")

    await snapshot.restore(second, await snapshot.take(first))

    other = second.path
    assert (other / "bin" / "tool").read_bytes() == b"\xff\xfe not utf-8 \x00\n"
    assert os.stat(other / "bin" / "tool").st_mode & 0o777 == 0o700
    assert (other / "calc.py").read_text() == "changed\n"
    assert not (other / "old.txt").exists()
    assert os.readlink(other / "link.py") == "calc.py"
    assert not (other / "build").exists()  # ignored, as a commit would ignore it


async def test_a_snapshot_that_would_write_outside_the_tree_is_refused(
    clones: list[Workspace],
) -> None:
    first, second = clones
    os.symlink("/etc/passwd", first.path / "escape")
    (first.path / "calc.py").write_text("changed\n")
    packed = await snapshot.take(first)
    with pytest.raises(snapshot.SnapshotError):
        await snapshot.restore(second, packed)
    # Put back to its commit, so a fresh start works on a clean tree.
    assert (second.path / "calc.py").read_text() == FILES["calc.py"]
    assert not (second.path / "escape").is_symlink()


def test_a_checkpoint_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        LoopState.from_dict({"v": 99})


async def test_a_snapshot_uses_the_workspaces_own_git_not_one_a_command_planted(
    clones: list[Workspace], tmp_path: Path
) -> None:
    """A sandboxed command may write `.git` into the work tree (here: pointing at a
    repository of its own); the snapshot must read the workspace's git directory anyway."""
    first, second = clones
    planted = tmp_path / "planted.git"
    subprocess.run(["git", "init", "-q", "--bare", str(planted)], check=True)
    (first.path / ".git").write_text(f"gitdir: {planted}\n")
    (first.path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    packed = await snapshot.take(first)
    await snapshot.restore(second, packed)
    assert (second.path / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
