"""The agent's tools over one workspace: list, read, search, write, edit, run, finish.

Every path is resolved (symlinks included) and refused outside the workspace or inside
`.git/`; writes to protected paths (`.github/workflows/` unless allowed, and
`workflow.protected_paths`) are refused, as the push guard refuses them again later.
Failures raise `ToolError`, whose message goes back to the model as an error result.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from bot.agents.llm.types import ToolSpec
from bot.agents.sandbox import Sandbox, SandboxError
from bot.agents.tool_names import ALL_TOOLS
from bot.github.git import base_env, git_argv
from bot.github.push_guard import WORKFLOWS_SETTING, PushPolicy
from bot.github.workspace import git_dir_of

MAX_READ_LINES = 2000
MAX_READ_BYTES = 100_000
MAX_LIST_ENTRIES = 1000
MAX_SEARCH_MATCHES = 200
MAX_SEARCH_FILE_BYTES = 2_000_000
MAX_LINE_CHARS = 400
MAX_WRITE_BYTES = 2_000_000


class ToolError(Exception):
    """A tool call the model must correct; the message tells it how."""


class FinishGate(Protocol):
    """What `finish` asks first (`bot.environment.gate.TestGate`): None lets it finish."""

    async def check(self, reason: str | None) -> str | None: ...


@dataclass(frozen=True)
class ToolOutcome:
    content: str
    finished: bool = False
    changed: str | None = None
    """The workspace-relative path a write or edit changed, for narration."""


def _schema(properties: dict[str, Any], required: Iterable[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


_STR = {"type": "string"}
_INT = {"type": "integer", "minimum": 1}
SPECS: dict[str, ToolSpec] = {
    "list_files": ToolSpec(
        "list_files",
        "List files under a directory of the repository (ignored files are left out).",
        _schema(
            {"path": {**_STR, "description": "Directory, relative to the repository root."}}, []
        ),
    ),
    "read_file": ToolSpec(
        "read_file",
        f"Read a text file with line numbers. At most {MAX_READ_LINES} lines per call; "
        "use start_line/end_line (1-based, inclusive) for long files.",
        _schema({"path": _STR, "start_line": _INT, "end_line": _INT}, ["path"]),
    ),
    "search": ToolSpec(
        "search",
        "Search file contents with a Python regular expression; returns path:line: text.",
        _schema(
            {
                "pattern": _STR,
                "path": {**_STR, "description": "Directory or file to search; default: all."},
                "glob": {**_STR, "description": "Only files whose name matches, e.g. *.py"},
            },
            ["pattern"],
        ),
    ),
    "write_file": ToolSpec(
        "write_file",
        "Create or overwrite a file with the given content.",
        _schema({"path": _STR, "content": _STR}, ["path", "content"]),
    ),
    "edit_file": ToolSpec(
        "edit_file",
        "Replace one exact snippet of a file. `old` must occur exactly once (include enough "
        "surrounding lines to make it unique; no line-number prefixes).",
        _schema({"path": _STR, "old": _STR, "new": _STR}, ["path", "old", "new"]),
    ),
    "run": ToolSpec(
        "run",
        "Run a shell command in the repository root, sandboxed: no network (unless the "
        "repository allows some hosts), time and memory limits, output capped. Use it for "
        "tests, linters and builds.",
        _schema({"command": _STR, "timeout_s": _INT}, ["command"]),
    ),
    "finish": ToolSpec(
        "finish",
        "End your work with a short summary of what you did and anything left open. Where the "
        "repository has a test command, AIOS runs it first and refuses to finish while tests "
        "fail that passed before; `tests_failing_because` says why some cannot pass.",
        _schema(
            {
                "summary": _STR,
                "tests_failing_because": {
                    **_STR,
                    "description": "Only when tests still fail for a reason outside your task.",
                },
            },
            ["summary"],
        ),
    ),
}


class Toolbox:
    """Tools bound to one workspace; only `allowed` ones are offered and accepted."""

    def __init__(
        self,
        workspace: Path,
        *,
        sandbox: Sandbox | None = None,
        git_dir: Path | None = None,
        allowed: Iterable[str] = ALL_TOOLS,
        policy: PushPolicy | None = None,
        finish_gate: FinishGate | None = None,
    ) -> None:
        self.root = Path(workspace).resolve()
        self.git_dir = git_dir if git_dir is not None else git_dir_of(self.root)
        self.sandbox = sandbox
        self.allowed = tuple(t for t in ALL_TOOLS if t in set(allowed))
        if "run" in self.allowed and sandbox is None:
            self.allowed = tuple(t for t in self.allowed if t != "run")
        self.policy = policy or PushPolicy()
        self.finish_gate = finish_gate
        self._handlers: dict[str, Callable[..., Awaitable[ToolOutcome]]] = {
            "list_files": self.list_files,
            "read_file": self.read_file,
            "search": self.search,
            "write_file": self.write_file,
            "edit_file": self.edit_file,
            "run": self.run,
            "finish": self.finish,
        }

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(SPECS[name] for name in self.allowed)

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        if name not in self.allowed:
            raise ToolError(f"unknown tool {name!r}; available: {', '.join(self.allowed)}")
        if "_invalid_json" in arguments:
            raise ToolError("the arguments were not valid JSON; send a JSON object")
        try:
            return await self._handlers[name](**arguments)
        except TypeError as exc:
            raise ToolError(f"bad arguments for {name}: {exc}; see the tool's schema") from None

    # -- paths ---------------------------------------------------------------------------

    def resolve(self, path: str, *, write: bool = False) -> Path:
        """The real path of `path` inside the workspace, or ToolError saying why not."""
        if not isinstance(path, str) or not path.strip() or "\0" in path:
            raise ToolError("path must be a non-empty string")
        raw = Path(path)
        candidate = raw if raw.is_absolute() else self.root / raw
        real = Path(os.path.realpath(candidate))
        if real != self.root and not real.is_relative_to(self.root):
            raise ToolError(f"{path!r} is outside the repository; use a path inside it")
        rel = real.relative_to(self.root)
        if any(part.casefold() == ".git" for part in rel.parts):
            raise ToolError(f"{path!r} is inside .git/, which agents may not touch")
        setting = self.policy.setting_protecting(rel.as_posix()) if write and rel.parts else None
        if setting == WORKFLOWS_SETTING:
            raise ToolError(
                f"{path!r} is a GitHub Actions workflow; editing workflows is disabled "
                f"({setting} in .github/aios.yml)"
            )
        if setting is not None:
            raise ToolError(
                f"{path!r} is protected ({setting} in .github/aios.yml); agents may not change "
                "it, and a push that does is refused"
            )
        return real

    def relative(self, real: Path) -> str:
        return real.relative_to(self.root).as_posix() or "."

    def _files(self, base: Path) -> list[Path]:
        """Files under `base`, honouring .gitignore when the workspace is a git repository."""
        if self.git_dir is not None:
            # AIOS's own git, outside the sandbox: hardened, with the repository named.
            listing = ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]
            argv = git_argv(
                [*listing, "--", self.relative(base)],
                git_dir=self.git_dir,
                work_tree=self.root,
            )
            done = subprocess.run(
                argv,
                cwd=self.root,
                env=base_env(self.git_dir),
                capture_output=True,
                timeout=60,
                check=False,
            )
            if done.returncode == 0:
                names = sorted({n for n in done.stdout.decode(errors="replace").split("\0") if n})
                files = [self.root / n for n in names]
                return [f for f in files if f.is_file() or f.is_symlink()]
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            found.extend(Path(dirpath) / f for f in sorted(filenames))
        return found

    # -- tools ---------------------------------------------------------------------------

    async def list_files(self, path: str = ".") -> ToolOutcome:
        base = self.resolve(path)
        if not base.is_dir():
            raise ToolError(f"{path!r} is not a directory")
        names = [self.relative(f) for f in self._files(base)]
        shown = names[:MAX_LIST_ENTRIES]
        text = "\n".join(shown) if shown else "(no files)"
        if len(names) > len(shown):
            text += (
                f"\n[{len(names) - len(shown)} more files not shown; "
                "list a subdirectory to see them]"
            )
        return ToolOutcome(text)

    async def read_file(
        self, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> ToolOutcome:
        real = self.resolve(path)
        if not real.is_file():
            raise ToolError(f"{path!r} does not exist or is not a file")
        data = real.read_bytes()
        if b"\0" in data[:8192]:
            raise ToolError(f"{path!r} is a binary file ({len(data):,} bytes)")
        lines = data.decode("utf-8", errors="replace").splitlines()
        first = max(int(start_line or 1), 1)
        last = min(int(end_line or len(lines)), len(lines), first + MAX_READ_LINES - 1)
        out: list[str] = []
        size = 0
        shown_last = first - 1
        for n in range(first, last + 1):
            line = f"{n:>6}\t{lines[n - 1]}"
            size += len(line) + 1
            if size > MAX_READ_BYTES and out:
                break
            out.append(line)
            shown_last = n
        text = "\n".join(out) if out else "(empty file)" if not lines else "(no lines in range)"
        if shown_last < len(lines) and (end_line is None or shown_last < end_line):
            text += (
                f"\n[truncated: showed lines {first}-{shown_last} of {len(lines)}; "
                f"call read_file with start_line={shown_last + 1} to read on]"
            )
        return ToolOutcome(text)

    async def search(self, pattern: str, path: str = ".", glob: str | None = None) -> ToolOutcome:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolError(f"invalid regular expression {pattern!r}: {exc}") from None
        base = self.resolve(path)
        files = [base] if base.is_file() else self._files(base)
        matches: list[str] = []
        total = 0
        for file in files:
            if glob and not PurePosixPath(file.name).match(glob):
                continue
            try:
                real = self.resolve(str(file))
                if real.stat().st_size > MAX_SEARCH_FILE_BYTES:
                    continue
                data = real.read_bytes()
            except (ToolError, OSError):
                continue
            if b"\0" in data[:8192]:
                continue
            for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
                if regex.search(line):
                    total += 1
                    if len(matches) < MAX_SEARCH_MATCHES:
                        matches.append(f"{self.relative(real)}:{n}: {line[:MAX_LINE_CHARS]}")
        text = "\n".join(matches) if matches else "(no matches)"
        if total > len(matches):
            text += f"\n[{total - len(matches)} more matches not shown; narrow the pattern or path]"
        return ToolOutcome(text)

    async def write_file(self, path: str, content: str) -> ToolOutcome:
        real = self.resolve(path, write=True)
        if not isinstance(content, str):
            raise ToolError("content must be a string")
        if len(content.encode()) > MAX_WRITE_BYTES:
            raise ToolError(f"content is larger than {MAX_WRITE_BYTES:,} bytes")
        if real.is_dir():
            raise ToolError(f"{path!r} is a directory")
        existed = real.exists()
        _atomic_write(real, content)
        verb = "overwrote" if existed else "created"
        return ToolOutcome(
            f"{verb} {self.relative(real)} ({content.count(chr(10)) + 1} lines)",
            changed=self.relative(real),
        )

    async def edit_file(self, path: str, old: str, new: str) -> ToolOutcome:
        real = self.resolve(path, write=True)
        if not real.is_file():
            raise ToolError(f"{path!r} does not exist; use write_file to create it")
        if not old:
            raise ToolError("`old` is empty; give the exact text to replace")
        text = real.read_text(errors="replace")
        count = text.count(old)
        if count == 0:
            raise ToolError(
                f"`old` was not found in {path}; read the file again and copy the snippet "
                "exactly (whitespace included, without line-number prefixes)"
            )
        if count > 1:
            raise ToolError(
                f"`old` occurs {count} times in {path}; include more surrounding lines so it "
                "matches exactly once"
            )
        _atomic_write(real, text.replace(old, new, 1))
        line = text[: text.index(old)].count("\n") + 1
        return ToolOutcome(
            f"edited {self.relative(real)} at line {line}", changed=self.relative(real)
        )

    async def run(self, command: str, timeout_s: int | None = None) -> ToolOutcome:
        if self.sandbox is None:
            raise ToolError("running commands is not available to this role")
        if not isinstance(command, str) or not command.strip():
            raise ToolError("command must be a non-empty string")
        try:
            result = await self.sandbox.run(command, timeout_s=timeout_s)
        except SandboxError as exc:
            raise ToolError(str(exc)) from None
        return ToolOutcome(result.for_model())

    async def finish(self, summary: str = "", tests_failing_because: str = "") -> ToolOutcome:
        if self.finish_gate is not None:
            refusal = await self.finish_gate.check(str(tests_failing_because or "") or None)
            if refusal is not None:
                raise ToolError(refusal)
        return ToolOutcome(str(summary or "").strip() or "(no summary)", finished=True)


def _atomic_write(real: Path, content: str) -> None:
    """Write through a temporary file and rename, so a file is never left half written."""
    real.parent.mkdir(parents=True, exist_ok=True)
    mode = real.stat().st_mode & 0o7777 if real.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=".aios-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
