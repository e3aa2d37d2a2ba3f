"""The one `.github/aios.yml` schema: every setting, its type, bounds, default and meaning.

This JSON Schema is the single source of truth: validation (`bot.config.parse`), the defaults
of the typed settings (`bot.config.model`) and the README's reference table (`bot.config.docs`)
all come from it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any

CONFIG_PATH = ".github/aios.yml"
"""Where AIOS reads the settings, always from the repository's default branch."""

MAX_CONFIG_CHARS = 64 * 1024
"""A real settings file is a few hundred bytes; anything this big is a mistake or an attack."""

MAX_NODES = 5000
"""Values in the file counting each alias expansion: bounds work on alias bombs."""

MAX_LISTED_PROBLEMS = 30
"""A comment lists this many problems at most; the first ones are the ones to fix first."""

ROLES = ("cto", "backend", "frontend", "devops", "qa", "triage")

_MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"


class MergeMethod(enum.StrEnum):
    MERGE = "merge"
    SQUASH = "squash"
    REBASE = "rebase"


def _model(role: str, what: str) -> dict[str, Any]:
    return {
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": 200,
        "pattern": _MODEL_NAME,
        "default": None,
        "description": f"Model for {what}; null uses AIOS's default routing for the {role} role.",
    }


def _count(minimum: int, maximum: int, default: int, description: str) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": minimum,
        "maximum": maximum,
        "default": default,
        "description": description,
    }


def _flag(default: bool, description: str) -> dict[str, Any]:
    return {"type": "boolean", "default": default, "description": description}


def _usd(default: float, description: str) -> dict[str, Any]:
    return {"type": "number", "exclusiveMinimum": 0, "default": default, "description": description}


def _commands(most: int, description: str) -> dict[str, Any]:
    return {
        "type": ["array", "null"],
        "items": {"type": "string", "minLength": 1, "maxLength": 1000},
        "maxItems": most,
        "default": None,
        "x-type": "list of commands or `null`",
        "description": description,
    }


def _section(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "description": description,
        "properties": properties,
    }


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "AIOS repository settings (.github/aios.yml)",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "agents": _section(
            "How the agents run.",
            {
                "models": _section(
                    "Model name per role (any model your configured provider serves).",
                    {
                        "cto": _model("cto", "the CTO agent (triage, plans, decisions)"),
                        "backend": _model("backend", "the Backend developer agent"),
                        "frontend": _model("frontend", "the Frontend developer agent"),
                        "devops": _model("devops", "the DevOps developer agent"),
                        "qa": _model("qa", "the QA agent (reviews and tests)"),
                        "triage": _model("triage", "quick triage and summaries"),
                    },
                )
            },
        ),
        "budgets": _section(
            "Spending limits in US dollars, from each response's reported usage.",
            {
                "per_work_item_usd": _usd(
                    5.0,
                    "Most one work item (an issue and its pull request: triage, code, QA, fixes) "
                    "may cost; at 80 % the agents pause and ask, and `/aios budget +<usd>` raises "
                    "it. At most the operator's `AIOS_BUDGET_WORK_ITEM_USD`.",
                ),
                "per_month_usd": _usd(
                    200.0,
                    "Most this repository may spend per calendar month (UTC). At most the "
                    "operator's `AIOS_BUDGET_REPO_MONTH_USD`.",
                ),
                "per_job_usd": _usd(
                    2.0,
                    "Most a single agent run may cost before it is stopped. At most the "
                    "operator's `AIOS_BUDGET_JOB_USD`.",
                ),
            },
        ),
        "workflow": _section(
            "What AIOS may do on its own and what waits for people.",
            {
                "require_plan_approval": _flag(
                    True, "Wait for `/aios approve` (or the plan's checkbox) before implementing."
                ),
                "require_independent_approval": _flag(
                    False, "The merge approval must come from someone other than the requester."
                ),
                "required_approvals": _count(
                    1, 10, 1, "Approving reviews (from users with write access) needed to merge."
                ),
                "merge_method": {
                    "type": "string",
                    "enum": [method.value for method in MergeMethod],
                    "default": MergeMethod.SQUASH.value,
                    "description": "How AIOS merges an approved pull request.",
                },
                "delete_branch_on_merge": _flag(
                    True, "Delete the `aios/…` branch after its pull request is merged."
                ),
                "max_review_rounds": _count(
                    0, 10, 2, "QA review-and-fix rounds before handing over to humans (0: none)."
                ),
                "max_fix_rounds": _count(
                    0, 20, 3, "Rounds of human review feedback the agent addresses per PR."
                ),
                "max_ci_fix_attempts": _count(
                    0, 10, 3, "Attempts to fix a failing CI check before asking for help."
                ),
                "allow_workflow_edits": _flag(
                    False,
                    "Let agents change `.github/workflows/` (needs the workflows permission).",
                ),
                "protected_paths": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 500},
                    "maxItems": 100,
                    "default": [".github/aios.yml", "CODEOWNERS"],
                    "description": (
                        "Paths agents may not change, refused by their write tools and again "
                        "before every push: a name without `/` matches that file in any folder, "
                        "a path matches itself and what is under it, `*` globs within a name. "
                        "Replaces this list; `.github/workflows/` is guarded by "
                        "`allow_workflow_edits` besides."
                    ),
                },
                "review_fork_prs": _flag(
                    False, "Review pull requests from forks (read-only: fork code is never run)."
                ),
            },
        ),
        "progress": _section(
            "The live progress comment and check run.",
            {
                "min_edit_interval_s": {
                    "type": "number",
                    "minimum": 1,
                    "maximum": 300,
                    "default": 3.0,
                    "description": "Seconds between edits of one progress comment, at least.",
                },
                "personas": _flag(
                    True,
                    "Narrate in each agent's persona (name, emoji, voice); false: plain roles.",
                ),
            },
        ),
        "paths": _section(
            "Which files AIOS leaves alone.",
            {
                "ignore_for_review": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 500},
                    "maxItems": 200,
                    "default": ["**/*.lock", "vendor/**", "dist/**"],
                    "description": (
                        "Globs (`**` spans folders) of files the QA review skips; replaces this "
                        "list. Generated files (lock files, `@generated`) are skipped anyway."
                    ),
                }
            },
        ),
        "control_center": _flag(
            True,
            'Keep the "AIOS Control Center" issue of this repository: what waits for you, what '
            "works, what stopped, the budget, what the agents learned and the scorecard; false: "
            "no issue (the scorecard is still counted for `aios report` and `/metrics`).",
        ),
        "memory": _section(
            "What the agents learn from maintainers' review feedback.",
            {
                "auto_accept": _flag(
                    False,
                    "Use memories distilled from review feedback at once, instead of proposing "
                    "them in the Control Center for a maintainer to accept.",
                ),
                "expire_after_days": _count(
                    1,
                    365,
                    28,
                    "A memory no agent used for this many days expires (proposed ones too).",
                ),
            },
        ),
        "environment": _section(
            "What each work item's workspace gets before the agents: setup, the test command, "
            "egress. Each key left out (or null) is what AIOS detects for common projects "
            "(see Environments in the README).",
            {
                "setup": _commands(
                    20,
                    "Commands run once per work item in the workspace before the agents, in "
                    "their sandbox, with egress to `allow_hosts` only. A failing command stops "
                    "the item showing its last lines. Null: the detected ones.",
                ),
                "test": {
                    "type": ["string", "null"],
                    "minLength": 1,
                    "maxLength": 1000,
                    "default": None,
                    "x-type": "command or `null`",
                    "description": (
                        "What agents and QA run to verify: a coder's task finishes only with "
                        "its verdict (passing, failing as on the base commit, or failing with "
                        "the agent's reason). Null: the detected one."
                    ),
                },
                "allow_hosts": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 260,
                        "pattern": r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
                        "x-pattern": "a host name or host:port, such as pypi.org or 127.0.0.1:8080",
                    },
                    "maxItems": 50,
                    "default": None,
                    "x-type": "list of `host` or `host:port`, or `null`",
                    "description": (
                        "Hosts setup may reach, through AIOS's allowlisting proxy (port 443 or "
                        "80 unless given; no other traffic, no DNS). Null: this AIOS's default "
                        "(`AIOS_EGRESS_ALLOW`: the common package registries). Hosts outside "
                        "the operator's `AIOS_EGRESS_CEILING` are left out, and the progress "
                        "comment says so."
                    ),
                },
                "network_during_run": _flag(
                    False,
                    "Give the agents' own commands the egress setup has; false: no network.",
                ),
                "cache": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 300,
                        "pattern": r"^(?!.*\.\.)[A-Za-z0-9_.@+-][A-Za-z0-9_.@+/-]*$",
                        "x-pattern": "a path inside the work tree, such as .venv",
                    },
                    "maxItems": 20,
                    "default": None,
                    "x-type": "list of paths or `null`",
                    "description": (
                        "Work-tree paths kept after setup for the next work items, keyed by the "
                        "lock files' contents: a hit skips the setup. Never committed. Null: "
                        "the detected ones (`.venv`, `node_modules`)."
                    ),
                },
            },
        ),
        "scorecard": _section(
            "How the Control Center's scorecard judges the agents.",
            {
                "human_cost_per_pr_usd": _usd(
                    400.0,
                    "What one merged pull request costs when people write it; the cost target "
                    "is 90 % below it.",
                ),
            },
        ),
    },
}


Path = tuple[str | int, ...]


def dotted(path: Path) -> str:
    """`workflow.merge_method`, `paths.ignore_for_review[2]`: a key path as people write it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def leaf_keys(schema: dict[str, Any], path: Path = ()) -> Iterator[tuple[str, str]]:
    """(dotted path, key) of every setting in `schema`."""
    for key, sub in schema.get("properties", {}).items():
        if "properties" in sub:
            yield from leaf_keys(sub, (*path, key))
        else:
            yield dotted((*path, key)), key


TYPE_WORDS = {
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "array": "a list",
    "object": "a mapping of keys",
    "null": "null",
}
