"""The README and `/aios help` speak only of what exists, and of all of it: commands, settings."""

from __future__ import annotations

import re
from pathlib import Path

from bot.commands import COMMAND_SPECS, HELP_TEXT
from bot.config.schema import SCHEMA, leaf_keys

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = "\n".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))
COMMANDS = {spec.name.value for spec in COMMAND_SPECS}
KEYS = {dotted for dotted, _ in leaf_keys(SCHEMA)}
SECTIONS = set(SCHEMA["properties"])


def test_every_command_the_readme_names_exists_and_every_command_is_in_its_table() -> None:
    # A slash command, not a path ending in the `aios` program (`.venv/bin/aios doctor`).
    named = set(re.findall(r"(?<![\w.])/aios ([a-z]+)", README))
    assert named <= COMMANDS, f"the README names commands that do not exist: {named - COMMANDS}"
    table = README[README.index("## `/aios` commands") : README.index("## Configuration")]
    listed = set(re.findall(r"^\| `/aios ([a-z]+)", table, re.M))
    assert listed == COMMANDS, f"commands table vs code: {listed ^ COMMANDS}"


def test_every_setting_the_docs_name_exists() -> None:
    named = {
        key
        for key in re.findall(
            r"`((?:agents|budgets|workflow|progress|paths|memory|scorecard)\.[a-z_.]+)`", README
        )
    }
    named |= set(re.findall(r"`((?:budgets|workflow|progress|paths)\.[a-z_]+)`", DOCS))
    unknown = {key for key in named if key not in KEYS and key not in SECTIONS}
    assert not unknown, f"settings the docs name that .github/aios.yml does not have: {unknown}"


def test_the_readme_example_aios_yml_uses_only_real_keys() -> None:
    import yaml

    example = README[README.index("```yaml", README.index("## Repository settings")) :]
    data = yaml.safe_load(example[len("```yaml") : example.index("```", 7)])

    def flatten(prefix: str, node: object) -> set[str]:
        if isinstance(node, dict):
            return {k for key, v in node.items() for k in flatten(f"{prefix}{key}.", v)}
        return {prefix.rstrip(".")}

    keys = flatten("", data)
    assert keys <= KEYS, f"the example has keys the schema does not: {keys - KEYS}"


def test_help_lists_every_command_and_no_feature_that_does_not_exist() -> None:
    for spec in COMMAND_SPECS:
        assert f"`/aios {spec.usage}`" in HELP_TEXT
    # The Control Center exists: the help points at it and the README shows one.
    assert "AIOS Control Center" in HELP_TEXT
    assert "## The Control Center" in README
