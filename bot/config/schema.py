"""The `.github/aios.yml` schema: parse, validate and document a repository's settings (pure).

The JSON Schema `SCHEMA` is the single source of truth: validation, the defaults of the typed
`RepoConfig` and the README's reference table (`config_reference_markdown`) all come from it.
If a file has any error, AIOS uses the full defaults rather than a half-read file; unknown keys
are only warnings (with a "did you mean"), so a typo never silently changes behaviour.
"""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import jsonschema
import yaml

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
                    5.0, "Most one work item (an issue and its pull request) may cost in total."
                ),
                "per_month_usd": _usd(
                    200.0, "Most this repository may spend per calendar month (UTC)."
                ),
                "per_job_usd": _usd(2.0, "Most a single agent run may cost before it is stopped."),
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
    },
}


def _default(section: str, key: str, sub: str | None = None) -> Any:
    node = SCHEMA["properties"][section]["properties"][key]
    if sub is not None:
        node = node["properties"][sub]
    return node["default"]


_DEFAULT_MERGE_METHOD = MergeMethod(_default("workflow", "merge_method"))


@dataclass(frozen=True)
class AgentModels:
    cto: str | None = _default("agents", "models", "cto")
    backend: str | None = _default("agents", "models", "backend")
    frontend: str | None = _default("agents", "models", "frontend")
    devops: str | None = _default("agents", "models", "devops")
    qa: str | None = _default("agents", "models", "qa")
    triage: str | None = _default("agents", "models", "triage")

    def for_role(self, role: str) -> str | None:
        """The configured model for `role` (one of `ROLES`), or None for the default routing."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return getattr(self, role)


@dataclass(frozen=True)
class AgentsConfig:
    models: AgentModels = AgentModels()


@dataclass(frozen=True)
class BudgetsConfig:
    per_work_item_usd: float = _default("budgets", "per_work_item_usd")
    per_month_usd: float = _default("budgets", "per_month_usd")
    per_job_usd: float = _default("budgets", "per_job_usd")


@dataclass(frozen=True)
class WorkflowConfig:
    require_plan_approval: bool = _default("workflow", "require_plan_approval")
    require_independent_approval: bool = _default("workflow", "require_independent_approval")
    required_approvals: int = _default("workflow", "required_approvals")
    merge_method: MergeMethod = _DEFAULT_MERGE_METHOD
    delete_branch_on_merge: bool = _default("workflow", "delete_branch_on_merge")
    max_review_rounds: int = _default("workflow", "max_review_rounds")
    max_fix_rounds: int = _default("workflow", "max_fix_rounds")
    max_ci_fix_attempts: int = _default("workflow", "max_ci_fix_attempts")
    allow_workflow_edits: bool = _default("workflow", "allow_workflow_edits")
    review_fork_prs: bool = _default("workflow", "review_fork_prs")


@dataclass(frozen=True)
class ProgressConfig:
    min_edit_interval_s: float = _default("progress", "min_edit_interval_s")
    personas: bool = _default("progress", "personas")


@dataclass(frozen=True)
class PathsConfig:
    ignore_for_review: tuple[str, ...] = tuple(_default("paths", "ignore_for_review"))


@dataclass(frozen=True)
class RepoConfig:
    """A repository's validated settings; `RepoConfig()` is the defaults."""

    agents: AgentsConfig = AgentsConfig()
    budgets: BudgetsConfig = BudgetsConfig()
    workflow: WorkflowConfig = WorkflowConfig()
    progress: ProgressConfig = ProgressConfig()
    paths: PathsConfig = PathsConfig()


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the file: where (key path and 1-based line) and what."""

    path: str
    """Dotted key path such as `workflow.merge_method`; "" for the file as a whole."""
    message: str
    line: int | None = None
    suggestion: str | None = None
    """For an unknown key, the key path probably meant."""


@dataclass(frozen=True)
class ConfigResult:
    config: RepoConfig
    errors: list[ConfigProblem]
    """Any error means `config` is the full defaults."""
    warnings: list[ConfigProblem]

    @property
    def ok(self) -> bool:
        return not self.errors


# ---------------------------------------------------------------------------------------------
# Parsing.

Path = tuple[str | int, ...]


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _NodeWalk:
    """Line numbers, unknown keys and duplicate keys, read from the composed YAML nodes."""

    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.unknown: list[ConfigProblem] = []
        self.duplicates: list[ConfigProblem] = []
        self.visited = 0
        self.known_leaves = {key: path for path, key in _leaf_keys(SCHEMA)}

    def walk(self, node: yaml.Node, path: Path, schema: dict[str, Any] | None) -> None:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise _TooComplex
        if isinstance(node, yaml.MappingNode):
            properties = (schema or {}).get("properties")
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                child = (*path, key)
                if key in seen:
                    self.duplicates.append(
                        ConfigProblem(
                            _dotted(child),
                            f"appears twice (lines {seen[key]} and {line}); keep one",
                            line,
                        )
                    )
                seen[key] = line
                self.lines.setdefault(child, line)
                sub = None
                if properties is not None:
                    sub = properties.get(key)
                    if sub is None:
                        self.unknown.append(self._unknown(child, key, list(properties), line))
                        continue
                self.walk(value_node, child, sub)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.lines.setdefault((*path, index), item.start_mark.line + 1)
                self.walk(item, (*path, index), (schema or {}).get("items"))

    def _unknown(self, path: Path, key: str, siblings: list[str], line: int) -> ConfigProblem:
        close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
        suggestion = _dotted((*path[:-1], close[0])) if close else None
        if suggestion is None and key in self.known_leaves:
            suggestion = self.known_leaves[key]
        message = f"unknown setting `{_dotted(path)}`, ignored"
        if suggestion:
            message += f"; did you mean `{suggestion}`?"
        return ConfigProblem(_dotted(path), message, line, suggestion)


class _TooComplex(Exception):
    pass


def _leaf_keys(schema: dict[str, Any], path: Path = ()) -> Iterator[tuple[str, str]]:
    """(dotted path, key) of every setting in `schema`."""
    for key, sub in schema.get("properties", {}).items():
        if "properties" in sub:
            yield from _leaf_keys(sub, (*path, key))
        else:
            yield _dotted((*path, key)), key


def _syntax_problem(error: yaml.YAMLError, text: str) -> ConfigProblem:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        parts = [part for part in (error.context, error.problem) if part]
        detail = "; ".join(parts) or "invalid YAML"
        return ConfigProblem("", f"YAML syntax error: {detail}", mark.line + 1 if mark else None)
    if isinstance(error, yaml.reader.ReaderError):
        line = text[: error.position].count("\n") + 1
        message = f"the file contains a character YAML does not allow (U+{error.character:04X})"
        return ConfigProblem("", message, line)
    return ConfigProblem("", f"YAML error: {error}", None)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:39] + "…"
        return f"the text {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping of keys"
    return type(value).__name__


_TYPE_WORDS = {
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "array": "a list",
    "object": "a mapping of keys",
    "null": "null",
}


def _explain(error: jsonschema.ValidationError) -> str:
    """A sentence naming what the value must be and what it is."""
    schema, value, keyword = error.schema, error.instance, error.validator
    got = _describe(value)
    expected = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    words = " or ".join(_TYPE_WORDS[name] for name in expected)
    if value is None and "default" in schema:
        if "enum" in schema:
            words = "one of " + ", ".join(map(str, schema["enum"]))
        default = json.dumps(schema["default"])
        return f"has no value; give it {words}, or delete the line to use the default {default}"
    if keyword == "type":
        hint = ""
        if "boolean" in expected and isinstance(value, str):
            hint = " (write true or false without quotes)"
        elif {"integer", "number"} & set(expected) and isinstance(value, str):
            hint = " (write the number without quotes)"
        return f"must be {words}{hint}, not {got}"
    if keyword == "enum":
        return f"must be one of {', '.join(map(str, schema['enum']))}, not {got}"
    if keyword == "minimum":
        return f"must be at least {schema['minimum']}, not {value}"
    if keyword == "exclusiveMinimum":
        return f"must be more than {schema['exclusiveMinimum']}, not {value}"
    if keyword == "maximum":
        return f"must be at most {schema['maximum']}, not {value}"
    if keyword == "minLength":
        return "must not be empty"
    if keyword == "maxLength":
        return f"is too long ({len(value)} characters; at most {schema['maxLength']})"
    if keyword == "pattern":
        return (
            f"is not a valid model name ({got}): use letters, digits and . _ : / @ + -, "
            "starting with a letter or digit"
        )
    if keyword == "maxItems":
        return f"lists {len(value)} entries; at most {schema['maxItems']} are allowed"
    return error.message[:200]


def _empty_sections_as_mappings(data: dict[str, Any], schema: dict[str, Any]) -> None:
    """`workflow:` with every line under it commented out means "defaults", not an error."""
    for key, sub in schema.get("properties", {}).items():
        if "properties" not in sub or key not in data:
            continue
        if data[key] is None:
            data[key] = {}
        if isinstance(data[key], dict):
            _empty_sections_as_mappings(data[key], sub)


def _known(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _pick(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    return {f.name: data[f.name] for f in fields(cls) if f.name in data}


def _build(data: dict[str, Any]) -> RepoConfig:
    agents = _known(data, "agents")
    budgets = {
        key: float(value) for key, value in _pick(BudgetsConfig, _known(data, "budgets")).items()
    }
    workflow = _pick(WorkflowConfig, _known(data, "workflow"))
    if "merge_method" in workflow:
        workflow["merge_method"] = MergeMethod(workflow["merge_method"])
    for key in ("required_approvals", "max_review_rounds", "max_fix_rounds", "max_ci_fix_attempts"):
        if key in workflow:
            workflow[key] = int(workflow[key])
    progress = _pick(ProgressConfig, _known(data, "progress"))
    if "min_edit_interval_s" in progress:
        progress["min_edit_interval_s"] = float(progress["min_edit_interval_s"])
    paths = _pick(PathsConfig, _known(data, "paths"))
    if "ignore_for_review" in paths:
        paths["ignore_for_review"] = tuple(paths["ignore_for_review"])
    return RepoConfig(
        agents=AgentsConfig(models=AgentModels(**_pick(AgentModels, _known(agents, "models")))),
        budgets=BudgetsConfig(**budgets),
        workflow=WorkflowConfig(**workflow),
        progress=ProgressConfig(**progress),
        paths=PathsConfig(**paths),
    )


def _budget_warnings(config: RepoConfig, lines: dict[Path, int]) -> list[ConfigProblem]:
    budgets = config.budgets
    pairs = [
        ("per_job_usd", budgets.per_job_usd, "per_work_item_usd", budgets.per_work_item_usd),
        ("per_work_item_usd", budgets.per_work_item_usd, "per_month_usd", budgets.per_month_usd),
    ]
    return [
        ConfigProblem(
            f"budgets.{small}",
            f"is {small_value:g}, more than `budgets.{big}` ({big_value:g}), "
            "so the larger limit can never be reached",
            lines.get(("budgets", small)),
        )
        for small, small_value, big, big_value in pairs
        if small_value > big_value
    ]


def _failed(errors: list[ConfigProblem], warnings: list[ConfigProblem]) -> ConfigResult:
    return ConfigResult(RepoConfig(), sorted(errors, key=_order), sorted(warnings, key=_order))


def _order(problem: ConfigProblem) -> tuple[int, str]:
    return (problem.line or 0, problem.path)


def _load(text: str, walk: _NodeWalk) -> Any:
    """Compose once: the nodes give lines and keys to `walk`, then become Python data."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        walk.walk(root, (), SCHEMA)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def parse_repo_config(text: str | None) -> ConfigResult:
    """Validate the text of `.github/aios.yml` (None when the file does not exist)."""
    if text is None or not text.strip():
        return ConfigResult(RepoConfig(), [], [])
    if len(text) > MAX_CONFIG_CHARS:
        message = f"the file is too large ({len(text):,} characters; at most {MAX_CONFIG_CHARS:,})"
        return _failed([ConfigProblem("", message, None)], [])

    walk = _NodeWalk()
    try:
        data = _load(text, walk)
    except yaml.YAMLError as error:
        return _failed([_syntax_problem(error, text)], [])
    except (_TooComplex, RecursionError):
        message = f"the file is too large or too deeply nested (over {MAX_NODES:,} values)"
        return _failed([ConfigProblem("", message, None)], [])

    if data is None:
        return ConfigResult(RepoConfig(), [], [])
    if not isinstance(data, dict):
        message = (
            f"the file must be a mapping of settings such as `workflow:`, not {_describe(data)}"
        )
        return _failed([ConfigProblem("", message, 1)], [])

    _empty_sections_as_mappings(data, SCHEMA)
    errors = list(walk.duplicates)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    by_path: dict[Path, jsonschema.ValidationError] = {}
    for error in validator.iter_errors(data):
        if error.validator == "additionalProperties":
            continue  # reported as warnings, with line numbers and suggestions
        path: Path = tuple(error.absolute_path)
        # one problem per key: the list of allowed values says more than "must be text"
        if path not in by_path or error.validator == "enum":
            by_path[path] = error
    for path, error in by_path.items():
        line = next(
            (walk.lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in walk.lines), 1
        )
        errors.append(ConfigProblem(_dotted(path), _explain(error), line))
    if errors:
        return _failed(errors, walk.unknown)
    config = _build(data)
    warnings = walk.unknown + _budget_warnings(config, walk.lines)
    return ConfigResult(config, [], sorted(warnings, key=_order))


# ---------------------------------------------------------------------------------------------
# Markdown for people.


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def render_problems_markdown(
    errors: Sequence[ConfigProblem],
    warnings: Sequence[ConfigProblem] = (),
    *,
    path: str = CONFIG_PATH,
) -> str:
    """A comment or check-run text listing what is wrong with the file; "" if nothing is."""
    if not errors and not warnings:
        return ""
    parts = []
    if errors:
        parts.append(
            f"⚠️ **AIOS could not use `{path}`** and fell back to the default settings for "
            "everything until the file is fixed:"
        )
    else:
        parts.append(f"**Note:** AIOS read `{path}` but ignored part of it:")
    problems = [*errors, *warnings]
    rows = [
        f"| {problem.line or ''} | {_code(problem.path) if problem.path else '(file)'} | "
        f"{_cell(problem.message)} |"
        for problem in problems[:MAX_LISTED_PROBLEMS]
    ]
    if len(problems) > MAX_LISTED_PROBLEMS:
        rows.append(f"| | | … and {len(problems) - MAX_LISTED_PROBLEMS} more |")
    parts.append("| line | setting | problem |\n| --- | --- | --- |\n" + "\n".join(rows))
    parts.append(
        f"To fix it, edit `{path}` on the default branch (AIOS reads the file only from there); "
        "every setting, its type and its default are listed in the configuration reference of "
        "the AIOS README. AIOS reads the file again on the next event."
    )
    return "\n\n".join(parts) + "\n"


def _type_text(schema: dict[str, Any]) -> str:
    kind = schema["type"]
    if "enum" in schema:
        return "one of " + ", ".join(_code(value) for value in schema["enum"])
    if kind == ["string", "null"]:
        return "model name or `null`"
    if kind == "array":
        return f"list of {_TYPE_WORDS[schema['items']['type']]} (globs)"
    if "minimum" in schema and "maximum" in schema:
        return f"{kind}, {schema['minimum']} to {schema['maximum']}"
    if "exclusiveMinimum" in schema:
        return f"{kind} > {schema['exclusiveMinimum']}"
    return str(kind)


def config_reference_markdown() -> str:
    """A Markdown table of every setting: key, type, default and description."""
    rows = []
    for dotted, _ in _leaf_keys(SCHEMA):
        node = SCHEMA
        for part in dotted.split("."):
            node = node["properties"][part]
        default = _code(json.dumps(node["default"]))
        rows.append(
            f"| {_code(dotted)} | {_cell(_type_text(node))} | {_cell(default)} | "
            f"{_cell(node['description'])} |"
        )
    return (
        f"Settings live in `{CONFIG_PATH}` on the default branch; every key is optional.\n\n"
        "| key | type | default | description |\n| --- | --- | --- | --- |\n"
        + "\n".join(rows)
        + "\n"
    )
