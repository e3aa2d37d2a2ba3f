"""`.github/aios.yml` for people: the problems of a file as a comment, and the settings table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.config.parse import ConfigProblem
from bot.config.schema import CONFIG_PATH, MAX_LISTED_PROBLEMS, SCHEMA, TYPE_WORDS, leaf_keys


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
    if "x-type" in schema:
        return str(schema["x-type"])
    if "enum" in schema:
        return "one of " + ", ".join(_code(value) for value in schema["enum"])
    if kind == ["string", "null"]:
        return "model name or `null`"
    if kind == "array":
        return f"list of {TYPE_WORDS[schema['items']['type']]} (globs)"
    if "minimum" in schema and "maximum" in schema:
        return f"{kind}, {schema['minimum']} to {schema['maximum']}"
    if "exclusiveMinimum" in schema:
        return f"{kind} > {schema['exclusiveMinimum']}"
    return str(kind)


def config_reference_markdown() -> str:
    """A Markdown table of every setting: key, type, default and description."""
    rows = []
    for dotted, _ in leaf_keys(SCHEMA):
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
