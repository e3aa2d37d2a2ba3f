"""The shape of `bot/`: no import cycles, small modules that say their job, one job catalog,
every effect carried out, and a web process that loads no agent code."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from rq.utils import import_attribute

from bot.effects import EFFECTS
from bot.runtime.catalog import CATALOG, RUN_TRIAGE, QueueName
from bot.workitem.states import Effect

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"

MAX_MODULE_LINES = 450
"""A module longer than this holds more than one concern; split it."""

HEAVY_FOR_THE_WEB = (
    "anthropic",
    "bot.agents.loop",
    "bot.agents.llm",
    "bot.agents.runtime",
    "bot.agents.sandbox",
    "bot.jobs.",
    "bot.effects",
    "bot.engine",
    "bot.briefs.cto",
    "bot.testbed",
)
"""What the web process must never import: it verifies, stores and answers, nothing more."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(BOT.rglob("*.py"))}


def imports_of(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported bot module, line, at module level) for every import of `bot.…` in a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # `from bot.x import y` imports module bot.x.y when there is one, else bot.x.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        for target in targets:
            if target == "bot" or target.startswith("bot."):
                found.append((target, node.lineno, id(node) in top_level))
    return found


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    graph = {
        name: sorted({t for t, _, _ in imports_of(name, path) if t in MODULES and t != name})
        for name, path in MODULES.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_there_is_no_import_cycle_in_bot() -> None:
    found = cycles()
    assert not found, "import cycles (each line: the modules of one cycle):\n" + "\n".join(
        " ↔ ".join(component) for component in found
    )


def test_the_cycle_check_finds_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    real = imports_of

    def with_a_cycle(name: str, path: Path) -> list[tuple[str, int, bool]]:
        extra = [("bot.engine", 1, True)] if name == "bot.workitem.store" else []
        return [*real(name, path), *extra]

    monkeypatch.setattr(sys.modules[__name__], "imports_of", with_a_cycle)
    assert any("bot.engine" in c and "bot.workitem.store" in c for c in cycles())


def test_function_local_imports_say_why() -> None:
    """Imports inside functions hide dependencies; each one left must say why it is there."""
    unexplained = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        for target, line, top in imports_of(name, path):
            if top or "# " in lines[line - 1] or lines[line - 2].strip().startswith("#"):
                continue
            unexplained.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not unexplained, "function-local imports without a reason:\n" + "\n".join(unexplained)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_is_small_and_opens_with_its_job(name: str) -> None:
    path = MODULES[name]
    source = path.read_text()
    lines = source.count("\n")
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it"
    docstring = ast.get_docstring(ast.parse(source))
    if path.name == "__init__.py" and not source.strip():
        return  # an empty package marker
    assert docstring and docstring.splitlines()[0].strip(), f"{name} needs a docstring"


def test_every_catalog_job_resolves_to_a_coroutine_and_its_legacy_name_too() -> None:
    names = [spec.name for spec in CATALOG]
    assert len(set(names)) == len(names)
    for spec in CATALOG:
        function = import_attribute(spec.path)
        assert inspect.iscoroutinefunction(function), spec.path
        assert function.__name__ == spec.name
        # Jobs queued by AIOS 0.1 name `bot.jobs.<name>`: they still run after an upgrade.
        assert import_attribute(f"bot.jobs.{spec.name}") is function
    assert {spec.queue for spec in CATALOG} == set(QueueName)
    with pytest.raises(ValueError, match="no_such_job"):
        import_attribute("bot.jobs.no_such_job")
    # Jobs are limited per installation (RQ RateLimit) by the argument the spec names.
    for spec in CATALOG:
        if spec.installation_arg is not None:
            parameters = list(inspect.signature(import_attribute(spec.path)).parameters)
            assert parameters[spec.installation_arg] == "installation_id", spec.path
    assert RUN_TRIAGE.installation_arg == 0


def test_no_module_names_a_job_by_a_string_outside_the_catalog() -> None:
    spelled = []
    for path in MODULES.values():
        if path.name == "catalog.py":
            continue
        for spec in CATALOG:
            if (
                f'"{spec.path}"' in path.read_text()
                or f'"bot.jobs.{spec.name}"' in path.read_text()
            ):
                spelled.append(f"{path.relative_to(ROOT)}: {spec.path}")
    assert not spelled, spelled


def test_every_effect_of_the_table_has_a_function() -> None:
    assert set(EFFECTS) == set(Effect)
    for effect, function in EFFECTS.items():
        assert list(inspect.signature(function).parameters)[1:] in (["gh", "item"], ["_gh", "item"])
        assert inspect.iscoroutinefunction(function), effect


def test_the_web_process_loads_no_agent_job_or_llm_code() -> None:
    """`aios serve`'s own process builds the web app from the CLI; agent code stays out."""
    probe = (
        "import sys\n"
        "import redis.asyncio\n"
        "from bot.cli import build_parser\n"
        "from bot.app import serve\n"
        "from bot.app.web import create_app\n"
        "from bot.handlers import build_router\n"
        "from bot.settings import Settings\n"
        "build_parser()\n"
        "client = redis.asyncio.Redis.from_url('redis://127.0.0.1:1/0')\n"
        "create_app(Settings(webhook_secret='s'), redis_client=client, router=build_router())\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "bot.handlers.comments" in loaded  # the probe did build the router
    heavy = [m for m in loaded if m.startswith(HEAVY_FOR_THE_WEB)]
    assert not heavy, f"the web process imported {heavy}"
