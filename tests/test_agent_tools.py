"""Agent tools: confined paths, .gitignore, read/search caps, exact edits, workflow protection."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.agents.tools import MAX_READ_LINES, MAX_SEARCH_MATCHES, Toolbox, ToolError
from bot.github.push_guard import PushPolicy


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(
        "def hello():\n    return 'hi'\n\n\ndef bye():\n    return 'bye'\n"
    )
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / "build").mkdir()
    (root / "build" / "out.js").write_text("ignored")
    (root / "debug.log").write_text("ignored")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (tmp_path / "outside.txt").write_text("TOP SECRET")
    return root


async def test_list_files_respects_gitignore(repo: Path) -> None:
    listing = (await Toolbox(repo).call("list_files", {})).content.splitlines()
    assert "src/app.py" in listing and ".gitignore" in listing
    assert not any(name.startswith("build/") or name.endswith(".log") for name in listing)
    assert (await Toolbox(repo).call("list_files", {"path": "src"})).content == "src/app.py"


async def test_read_file_numbers_lines_and_reads_ranges(repo: Path) -> None:
    tools = Toolbox(repo)
    full = (await tools.call("read_file", {"path": "src/app.py"})).content
    assert full.splitlines()[0] == "     1\tdef hello():"
    part = (
        await tools.call("read_file", {"path": "src/app.py", "start_line": 5, "end_line": 6})
    ).content
    assert part.splitlines() == ["     5\tdef bye():", "     6\t    return 'bye'"]


async def test_long_files_are_truncated_with_a_note_saying_how_to_read_on(repo: Path) -> None:
    (repo / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, MAX_READ_LINES + 501)))
    text = (await Toolbox(repo).call("read_file", {"path": "big.txt"})).content
    assert f"line {MAX_READ_LINES}" in text and f"line {MAX_READ_LINES + 1}\n" not in text
    assert text.endswith(f"call read_file with start_line={MAX_READ_LINES + 1} to read on]")
    (repo / "bin.dat").write_bytes(b"\x00\x01\x02")
    with pytest.raises(ToolError, match="binary"):
        await Toolbox(repo).call("read_file", {"path": "bin.dat"})


async def test_search_finds_matches_caps_them_and_rejects_bad_regex(repo: Path) -> None:
    tools = Toolbox(repo)
    found = (await tools.call("search", {"pattern": r"def \w+\(", "glob": "*.py"})).content
    assert found.splitlines() == ["src/app.py:1: def hello():", "src/app.py:5: def bye():"]
    (repo / "many.txt").write_text("hit\n" * (MAX_SEARCH_MATCHES + 10))
    capped = (await tools.call("search", {"pattern": "hit"})).content
    assert capped.endswith("[10 more matches not shown; narrow the pattern or path]")
    with pytest.raises(ToolError, match="invalid regular expression"):
        await tools.call("search", {"pattern": "("})


async def test_edit_file_needs_one_exact_match(repo: Path) -> None:
    tools = Toolbox(repo)
    with pytest.raises(ToolError, match="was not found"):
        await tools.call("edit_file", {"path": "src/app.py", "old": "return 'hey'", "new": "x"})
    with pytest.raises(ToolError, match="occurs 2 times"):
        await tools.call("edit_file", {"path": "src/app.py", "old": "    return", "new": "x"})
    done = await tools.call(
        "edit_file", {"path": "src/app.py", "old": "return 'bye'", "new": "return 'ciao'"}
    )
    assert done.content == "edited src/app.py at line 6" and done.changed == "src/app.py"
    assert "return 'ciao'" in (repo / "src" / "app.py").read_text()


async def test_write_file_creates_directories_and_keeps_the_mode(repo: Path) -> None:
    tools = Toolbox(repo)
    (repo / "run.sh").write_text("#!/bin/sh\n")
    (repo / "run.sh").chmod(0o755)
    await tools.call("write_file", {"path": "run.sh", "content": "#!/bin/sh\necho hi\n"})
    assert os.stat(repo / "run.sh").st_mode & 0o777 == 0o755
    out = await tools.call("write_file", {"path": "pkg/new/mod.py", "content": "x = 1\n"})
    assert out.content.startswith("created pkg/new/mod.py")
    assert not list(repo.glob("pkg/new/.aios-*"))


@pytest.mark.parametrize(
    "path", ["../outside.txt", "src/../../outside.txt", "/etc/passwd", ".git/config", ".GIT/HEAD"]
)
async def test_paths_outside_the_workspace_or_in_git_are_refused(repo: Path, path: str) -> None:
    tools = Toolbox(repo)
    with pytest.raises(ToolError, match=r"outside the repository|inside \.git"):
        await tools.call("read_file", {"path": path})
    with pytest.raises(ToolError, match=r"outside the repository|inside \.git"):
        await tools.call("write_file", {"path": path, "content": "x"})


async def test_symlinks_pointing_outside_cannot_be_read_written_or_searched(repo: Path) -> None:
    (repo / "link.txt").symlink_to(repo.parent / "outside.txt")
    (repo / "linkdir").symlink_to(repo.parent)
    tools = Toolbox(repo)
    for path in ("link.txt", "linkdir/outside.txt"):
        with pytest.raises(ToolError, match="outside the repository"):
            await tools.call("read_file", {"path": path})
        with pytest.raises(ToolError, match="outside the repository"):
            await tools.call("write_file", {"path": path, "content": "pwned"})
    with pytest.raises(ToolError, match="outside the repository"):
        await tools.call("edit_file", {"path": "link.txt", "old": "TOP", "new": "x"})
    assert "TOP SECRET" not in (await tools.call("search", {"pattern": "SECRET"})).content
    assert (repo.parent / "outside.txt").read_text() == "TOP SECRET"


async def test_workflow_files_are_read_only_unless_allowed(repo: Path) -> None:
    path = ".github/workflows/ci.yml"
    assert "on: push" in (await Toolbox(repo).call("read_file", {"path": path})).content
    with pytest.raises(ToolError, match="workflow"):
        await Toolbox(repo).call(
            "write_file", {"path": path, "content": "on: pull_request_target\n"}
        )
    with pytest.raises(ToolError, match="workflow"):
        await Toolbox(repo).call(
            "edit_file", {"path": ".github/Workflows/ci.yml", "old": "push", "new": "x"}
        )
    await Toolbox(repo, policy=PushPolicy(allow_workflow_edits=True)).call(
        "write_file", {"path": path, "content": "on: [push]\n"}
    )
    assert (repo / path).read_text() == "on: [push]\n"


async def test_protected_paths_are_read_only_as_the_repository_lists_them(repo: Path) -> None:
    tools = Toolbox(repo)  # defaults: .github/aios.yml and CODEOWNERS anywhere
    for path in (".github/aios.yml", "CODEOWNERS", "docs/CODEOWNERS"):
        with pytest.raises(ToolError, match=r"protected \(workflow.protected_paths"):
            await tools.call("write_file", {"path": path, "content": "* @mallory\n"})
    listed = Toolbox(repo, policy=PushPolicy(protected_paths=("deploy/", "*.pem")))
    with pytest.raises(ToolError, match="protected"):
        await listed.call("write_file", {"path": "deploy/prod.env", "content": "x"})
    with pytest.raises(ToolError, match="protected"):
        await listed.call("write_file", {"path": "certs/server.pem", "content": "x"})
    await listed.call("write_file", {"path": "CODEOWNERS", "content": "* @alice\n"})
    await listed.call("write_file", {"path": "deployment.md", "content": "notes\n"})


async def test_unknown_tools_bad_arguments_and_disallowed_tools_are_tool_errors(repo: Path) -> None:
    reader = Toolbox(repo, allowed=("read_file", "finish"))
    assert [s.name for s in reader.specs] == ["read_file", "finish"]
    with pytest.raises(ToolError, match="unknown tool 'write_file'"):
        await reader.call("write_file", {"path": "a", "content": "b"})
    with pytest.raises(ToolError, match="bad arguments for read_file"):
        await reader.call("read_file", {"file": "a"})
    with pytest.raises(ToolError, match="not valid JSON"):
        await reader.call("read_file", {"_invalid_json": "{"})
    assert "run" not in Toolbox(repo).allowed  # no sandbox given, so no `run`
