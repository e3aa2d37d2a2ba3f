"""Build the stable parts of an agent's prompt: system prompt, repository context, task message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from string import Template

from bot.agents.roster import Role, Roster
from bot.briefs.text import untrusted

SYSTEM_TEMPLATE = Path(__file__).with_name("system.md")
INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md", "CONTRIBUTING.md")
MAX_INSTRUCTION_CHARS = 20_000


def system_prompt(role: Role, roster: Roster | None = None) -> str:
    """The role's system prompt; identical for every call of a run, so it caches."""
    team = ", ".join(
        r.persona for r in (roster.roles.values() if roster else ()) if r.key != role.key
    )
    focus = f"You usually work in: {', '.join(role.focus)}." if role.focus else ""
    return Template(SYSTEM_TEMPLATE.read_text()).substitute(
        name=role.name,
        title=role.title,
        voice=role.voice,
        expertise=role.expertise,
        focus=focus,
        team=team or "none in this run",
    )


def load_instructions(workspace: Path) -> dict[str, str]:
    """The repository's own instruction files (AGENTS.md, CLAUDE.md, …) that exist, capped."""
    found: dict[str, str] = {}
    root = workspace.resolve()
    for name in INSTRUCTION_FILES:
        path = (root / name).resolve()
        if path.is_relative_to(root) and path.is_file():
            text = path.read_text(errors="replace")
            if len(text) > MAX_INSTRUCTION_CHARS:
                text = text[:MAX_INSTRUCTION_CHARS] + "\n[… truncated]"
            found[name] = text
    return found


def repo_context(
    instructions: Mapping[str, str], memories: Iterable[str] = (), *, repo: str = ""
) -> str:
    """The repository block of the prompt prefix: instruction files and learned memories."""
    parts = [f"Repository: {repo}"] if repo else []
    # A pull request's own instruction files are as untrusted as its description: what a
    # reader of the rendered file cannot see (comments, invisible characters) goes.
    for name, text in instructions.items():
        parts.append(
            f'<repository-instructions file="{name}">\n{untrusted(text)}\n'
            "</repository-instructions>"
        )
    notes = [untrusted(m) for m in memories if m.strip()]
    if notes:
        body = "\n".join(f"- {m.strip()}" for m in notes)
        parts.append(f'<memory source="maintainers\' past feedback">\n{body}\n</memory>')
    return "\n\n".join(parts)


def task_message(task: str, *, source: str = "maintainer") -> str:
    """The first user message: the task, delimited as untrusted data."""
    return (
        f'<task source="{source}">\n{task.strip()}\n</task>\n\n'
        "Work on this task in the repository, then call `finish`."
    )
