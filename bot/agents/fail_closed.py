"""Where agents' commands cannot be isolated: the fix where AIOS runs, and the operator's opt-in.

Light on purpose (standard library and `bot.settings`): `bot.agents.bwrap`, `aios doctor` and
the progress publisher import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from bot.settings import SettingsError

SANDBOX_VARIABLE = "AIOS_SANDBOX"
ISOLATED = "isolated"
"""The default: agents' commands run in bubblewrap, or not at all."""
UNISOLATED = "unisolated"
"""The operator's opt-in: where bubblewrap cannot isolate, commands run without namespaces."""
SANDBOX_MODES = (ISOLATED, UNISOLATED)

OPT_IN = (
    "or set AIOS_SANDBOX=unisolated to run agent commands without isolation (not recommended: "
    "a command can then read the worker's files and reach the network)"
)
UNISOLATED_WARNING = (
    "⚠️ Agent commands run without isolation on this AIOS (AIOS_SANDBOX=unisolated): a "
    "command can read the worker's files and reach the network. The operator can turn "
    "isolation on: `aios doctor` says what to change."
)
"""The line every progress comment carries while agents' commands run unisolated."""
EGRESS_NEEDS_SANDBOX = (
    "egress filtering (allow_hosts) needs the sandbox, which does not work here "
    "(AIOS_SANDBOX=unisolated): the command was not run; see `aios doctor` for the fix"
)
IMAGE_FIX = (
    "build the image from AIOS's Dockerfile, which installs bubblewrap, util-linux (setpriv) "
    "and python3 under /usr"
)
_PACKAGE_PROBLEMS = ("not installed", "needs `setpriv`", "too old")


class Deployment(StrEnum):
    """Where AIOS runs, as far as the fix for the sandbox is concerned."""

    FLY = "a Fly.io machine"
    KUBERNETES = "a Kubernetes pod"
    DOCKER = "a Docker container"
    PODMAN = "a Podman container"
    CONTAINER = "a container"
    HOST = "this host"


_NAMESPACE_FIXES = {
    Deployment.FLY: (
        "Fly.io machines allow user namespaces: deploy with AIOS's Dockerfile and fly.toml "
        "(`fly deploy`) and let the `worker` process group run the agent jobs"
    ),
    Deployment.KUBERNETES: (
        "give the worker's container `securityContext: {seccompProfile: {type: Unconfined}, "
        "appArmorProfile: {type: Unconfined}, procMount: Unmasked}`, on nodes that allow "
        "unprivileged user namespaces"
    ),
    Deployment.DOCKER: (
        "run the worker with `docker run --security-opt seccomp=unconfined --security-opt "
        "apparmor=unconfined --security-opt systempaths=unconfined …` (docker-compose.yml's "
        "`worker` service has these three as `security_opt`: keep them, and let that service "
        "run the agent jobs); on Ubuntu 23.10+ hosts also `sysctl "
        "kernel.apparmor_restrict_unprivileged_userns=0` on the host"
    ),
    Deployment.PODMAN: (
        "run the worker with `podman run --security-opt seccomp=unconfined --security-opt "
        "apparmor=unconfined --security-opt unmask=ALL …`"
    ),
    Deployment.CONTAINER: (
        "let the container create user namespaces (LXC/Incus: `security.nesting=true`; "
        "systemd-nspawn: `--private-users`)"
    ),
}


def sandbox_mode(environ: Mapping[str, str]) -> str:
    """AIOS_SANDBOX: `isolated` (the default) or `unisolated`; SettingsError for anything else."""
    raw = environ.get(SANDBOX_VARIABLE, "").strip().lower() or ISOLATED
    if raw not in SANDBOX_MODES:
        raise SettingsError(
            SANDBOX_VARIABLE, f"must be {ISOLATED} (the default) or {UNISOLATED}, got {raw!r}"
        )
    return raw


def detect_deployment(
    root: Path = Path("/"), environ: Mapping[str, str] | None = None
) -> Deployment:
    """Fly.io and Kubernetes by their variables, Docker and Podman by the file each leaves at
    the root, other containers by `container=` in pid 1's environment (when it is readable)."""
    env = os.environ if environ is None else environ
    if env.get("FLY_MACHINE_ID") or env.get("FLY_APP_NAME"):
        return Deployment.FLY
    if env.get("KUBERNETES_SERVICE_HOST"):
        return Deployment.KUBERNETES
    if (root / ".dockerenv").exists():
        return Deployment.DOCKER
    if (root / "run" / ".containerenv").exists():
        return Deployment.PODMAN
    try:
        pid1 = (root / "proc" / "1" / "environ").read_bytes()
    except OSError:
        pid1 = b""
    if any(entry.startswith(b"container=") for entry in pid1.split(b"\0")):
        return Deployment.CONTAINER
    return Deployment.HOST


def deployment_fix(problem: str, where: Deployment) -> str:
    """What to change where AIOS runs; '' when the problem already says it (a plain host)."""
    if where is Deployment.HOST:
        return ""
    if any(words in problem for words in _PACKAGE_PROBLEMS):
        return f"AIOS runs in {where}: {IMAGE_FIX}"
    return f"AIOS runs in {where}: {_NAMESPACE_FIXES[where]}"


def refusal(problem: str, where: Deployment) -> str:
    """What the `run` tool answers where commands cannot be isolated and nobody opted out."""
    fix = deployment_fix(problem, where)
    then = f"{fix}; {OPT_IN}" if fix else f"O{OPT_IN[1:]}"
    return (
        f"commands cannot run: {problem}. AIOS refuses to run commands outside its sandbox; "
        f"an operator has to change this (see `aios doctor`). {then}"
    )
