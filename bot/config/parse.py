"""Parse and validate `.github/aios.yml`: every problem with its key, line and a fix (pure).

If the file has any error, AIOS uses the full defaults rather than a half-read file; unknown
keys are only warnings (with a "did you mean"), so a typo never silently changes behaviour.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml

from bot.config.model import RepoConfig, build_config
from bot.config.schema import (
    MAX_CONFIG_CHARS,
    MAX_NODES,
    SCHEMA,
    TYPE_WORDS,
    Path,
    dotted,
    leaf_keys,
)


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


class _NodeWalk:
    """Line numbers, unknown keys and duplicate keys, read from the composed YAML nodes."""

    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.unknown: list[ConfigProblem] = []
        self.duplicates: list[ConfigProblem] = []
        self.visited = 0
        self.known_leaves = {key: path for path, key in leaf_keys(SCHEMA)}

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
                            dotted(child),
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
        suggestion = dotted((*path[:-1], close[0])) if close else None
        if suggestion is None and key in self.known_leaves:
            suggestion = self.known_leaves[key]
        message = f"unknown setting `{dotted(path)}`, ignored"
        if suggestion:
            message += f"; did you mean `{suggestion}`?"
        return ConfigProblem(dotted(path), message, line, suggestion)


class _TooComplex(Exception):
    pass


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


def _explain(error: jsonschema.ValidationError) -> str:
    """A sentence naming what the value must be and what it is."""
    schema, value, keyword = error.schema, error.instance, error.validator
    got = _describe(value)
    expected = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    words = " or ".join(TYPE_WORDS[name] for name in expected)
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
    if keyword == "pattern" and "x-pattern" in schema:
        return f"is not {schema['x-pattern']} ({got})"
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
        errors.append(ConfigProblem(dotted(path), _explain(error), line))
    if errors:
        return _failed(errors, walk.unknown)
    config = build_config(data)
    warnings = walk.unknown + _budget_warnings(config, walk.lines)
    return ConfigResult(config, [], sorted(warnings, key=_order))
