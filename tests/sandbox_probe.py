"""Run sandboxed commands the way a worker does, as whichever uid runs this, and report in JSON.

`python -m tests.sandbox_probe < request.json`: builds an AIOS workspace (cloned from a
local bare repository), starts a worker-like process holding canary secrets in its
environment and command line, runs the request's commands in the workspace's sandbox,
then lets AIOS commit, diff and push. Prints what a test needs to judge the sandbox: each
command's output, the processes left in its pid namespace, whether the git directory
changed, and whether a planted program ever wrote the canary file. Tests run it as root
and, through `runuser`, as an unprivileged user (as the Docker image runs AIOS).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import structlog

from bot.agents.sandbox import Sandbox, SandboxLimits
from bot.github.push_guard import PushPolicy
from bot.github.workspace import Workspace, WorkspaceError


def in_namespace(namespace: int | None) -> list[int]:
    """Live processes of a pid namespace, seen from the host."""
    if namespace is None:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "pid") == f"pid:[{namespace}]":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def tree_digest(top: Path) -> str:
    """Every path, mode and content under `top`: any change to the git directory shows."""
    digest = hashlib.sha256()
    for path in sorted(top.rglob("*")):
        digest.update(f"{path.relative_to(top)}\0{path.lstat().st_mode}\0".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def git(*args: str, cwd: Path) -> None:
    ident = ("-c", "user.name=seed", "-c", "user.email=seed@example.com")
    subprocess.run(["git", *ident, *args], cwd=cwd, check=True, capture_output=True)


async def probe(request: dict[str, Any], base: Path) -> dict[str, Any]:
    remote = base / "remote.git"
    seed = base / "seed"
    git("init", "-q", "--bare", "-b", "main", str(remote), cwd=base)
    git("init", "-q", "-b", "main", str(seed), cwd=base)
    (seed / "README.md").write_text("# probe\n")
    git("add", "-A", cwd=seed)
    git("commit", "-qm", "initial", cwd=seed)
    git("push", "-q", str(remote), "HEAD:refs/heads/main", cwd=seed)

    canary_env: dict[str, str] = request.get("canary_env", {})
    worker = subprocess.Popen(
        ["/bin/sh", "-c", "read line", f"worker-{request.get('canary_argv', '')}"],
        env={**os.environ, **canary_env},
        stdin=subprocess.PIPE,
    )
    ws = await Workspace.clone_url(remote.as_uri(), ref="main", parent=base)
    canary = ws.root / "canary"
    box = Sandbox(
        ws.path,
        git_dir=ws.git_dir,
        limits=SandboxLimits(**request.get("limits", {})),
        env_allow=request.get("env_allow", ()),
    )
    report: dict[str, Any] = {"isolation": box.isolation.describe(), "results": []}
    try:
        host_view = Path(f"/proc/{worker.pid}/environ").read_bytes()
        report["worker_environ_readable_here"] = all(
            v.encode() in host_view for v in canary_env.values()
        )
        await ws.start_branch(1, "probe")
        before = tree_digest(ws.git_dir)
        names = {
            "git_dir": str(ws.git_dir),
            "canary": str(canary),
            "worker_pid": str(worker.pid),
            "my_pid": str(os.getpid()),
            "job_root": str(ws.root),
        }
        for command in request["commands"]:
            result = await box.run(
                command.format(**names), allow_hosts=request.get("allow_hosts", ())
            )
            report["results"].append(
                {
                    "output": result.output,
                    "exit_code": result.exit_code,
                    "timed_out": result.timed_out,
                    "survivors": in_namespace(result.pid_namespace),
                    "pid_namespace": result.pid_namespace,
                }
            )
        report["egress_refused"] = box.egress_refused
        report["git_dir_unchanged"] = tree_digest(ws.git_dir) == before
        try:
            sha = await ws.commit("probe", agent="probe")
            report["commit"] = sha
            if sha:
                await ws.diff_from("main")
                await ws.push(policy=PushPolicy())
        except WorkspaceError as exc:
            report["commit"] = f"refused: {exc}"
        report["canary_exists"] = canary.exists()
    finally:
        box.close()
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()
        ws.cleanup()
    return report


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout: JSON
    request = json.load(sys.stdin)
    base = Path(tempfile.mkdtemp(prefix="aios-probe-"))
    base.chmod(0o711)
    try:
        report = asyncio.run(probe(request, base))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report["uid"] = os.getuid()
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
