"""`.github/aios.yml`: defaults, every key's validation, warnings, line numbers, documentation."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import jsonschema
import pytest
import yaml

from bot.config.docs import config_reference_markdown, render_problems_markdown
from bot.config.model import AgentModels, RepoConfig
from bot.config.parse import ConfigProblem, parse_repo_config
from bot.config.schema import MAX_CONFIG_CHARS, MAX_LISTED_PROBLEMS, ROLES, SCHEMA, MergeMethod

DEFAULTS = RepoConfig()


def leaf_schemas() -> list[tuple[str, dict[str, Any]]]:
    found = []

    def walk(node: dict[str, Any], path: str) -> None:
        for key, sub in node["properties"].items():
            dotted = f"{path}.{key}" if path else key
            if "properties" in sub:
                walk(sub, dotted)
            else:
                found.append((dotted, sub))

    walk(SCHEMA, "")
    return found


LEAVES = leaf_schemas()


def nested(dotted: str, value: Any) -> str:
    """A YAML document setting one dotted key, block style (so each key has its own line)."""
    data: Any = value
    for part in reversed(dotted.split(".")):
        data = {part: data}
    return yaml.safe_dump(data, default_flow_style=False)


def config_value(config: RepoConfig, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("text", [None, "", "   \n", "# just a comment\n", "---\n", "~\n"])
def test_missing_or_empty_file_gives_defaults_without_problems(text: str | None) -> None:
    result = parse_repo_config(text)
    assert result.config == DEFAULTS
    assert result.errors == []
    assert result.warnings == []
    assert result.ok


def test_defaults_are_the_schema_defaults_and_the_dataclasses_cover_the_schema() -> None:
    for dotted, schema in LEAVES:
        value = config_value(DEFAULTS, dotted)
        expected = schema["default"]
        assert (list(value) if isinstance(value, tuple) else value) == expected, dotted
        assert "description" in schema and schema["description"].endswith("."), dotted

    def dataclass_leaves(obj: Any, path: str) -> list[str]:
        out = []
        for field in dataclasses.fields(obj):
            child = getattr(obj, field.name)
            dotted = f"{path}.{field.name}" if path else field.name
            is_section = dataclasses.is_dataclass(child)
            out.extend(dataclass_leaves(child, dotted) if is_section else [dotted])
        return out

    assert dataclass_leaves(DEFAULTS, "") == [dotted for dotted, _ in LEAVES]
    assert DEFAULTS.workflow.merge_method is MergeMethod.SQUASH
    assert DEFAULTS.paths.ignore_for_review == ("**/*.lock", "vendor/**", "dist/**")


def test_empty_sections_mean_defaults() -> None:
    result = parse_repo_config("agents:\n  models:\nworkflow:\nbudgets:\n  # later\n")
    assert result.errors == []
    assert result.config == DEFAULTS


def test_a_realistic_full_file_parses_into_typed_values() -> None:
    text = textwrap.dedent(
        """\
        # AIOS settings for this repository
        agents:
          models:
            cto: claude-opus-4-1
            backend: claude-sonnet-4-5
            frontend: gpt-4o
            devops: openrouter/meta-llama/llama-3.1-70b
            qa: claude-sonnet-4-5
            triage: llama3:8b
        budgets: {per_work_item_usd: 7.5, per_month_usd: 300, per_job_usd: 2}
        workflow:
          require_plan_approval: false
          require_independent_approval: yes
          required_approvals: 2
          merge_method: rebase
          delete_branch_on_merge: false
          max_review_rounds: 0
          max_fix_rounds: 5
          max_ci_fix_attempts: 1
          allow_workflow_edits: true
          review_fork_prs: true
        progress:
          min_edit_interval_s: 1.5
          personas: false
        paths:
          ignore_for_review:
            - "**/*.snap"
            - docs/generated/**
        """
    )
    result = parse_repo_config(text)
    assert result.errors == [] and result.warnings == []
    config = result.config
    assert config.agents.models.cto == "claude-opus-4-1"
    assert config.agents.models.for_role("devops") == "openrouter/meta-llama/llama-3.1-70b"
    assert config.agents.models.for_role("triage") == "llama3:8b"
    assert config.budgets.per_work_item_usd == 7.5
    assert isinstance(config.budgets.per_month_usd, float) and config.budgets.per_month_usd == 300
    assert config.workflow.require_plan_approval is False
    assert config.workflow.require_independent_approval is True
    assert config.workflow.required_approvals == 2
    assert config.workflow.merge_method is MergeMethod.REBASE
    assert config.workflow.delete_branch_on_merge is False
    assert config.workflow.max_review_rounds == 0
    assert config.workflow.max_fix_rounds == 5
    assert config.workflow.max_ci_fix_attempts == 1
    assert config.workflow.allow_workflow_edits is True
    assert config.workflow.review_fork_prs is True
    assert config.progress.min_edit_interval_s == 1.5
    assert config.progress.personas is False
    assert config.paths.ignore_for_review == ("**/*.snap", "docs/generated/**")


def test_partial_file_keeps_defaults_for_everything_else() -> None:
    result = parse_repo_config("workflow:\n  merge_method: merge\n")
    assert result.errors == []
    assert result.config == dataclasses.replace(
        DEFAULTS, workflow=dataclasses.replace(DEFAULTS.workflow, merge_method=MergeMethod.MERGE)
    )


def test_for_role_rejects_an_unknown_role() -> None:
    assert [AgentModels().for_role(role) for role in ROLES] == [None] * len(ROLES)
    with pytest.raises(ValueError, match="unknown role 'designer'"):
        AgentModels().for_role("designer")


BAD_VALUES: list[tuple[str, Any, str]] = []
for _dotted, _schema in LEAVES:
    _kind = _schema["type"]
    if _kind == "boolean":
        BAD_VALUES += [
            (_dotted, "true", "must be true or false (write true or false without quotes)"),
            (_dotted, 1, "must be true or false, not the number 1"),
        ]
    elif _kind == "integer":
        BAD_VALUES += [
            (_dotted, "2", "must be a whole number (write the number without quotes)"),
            (_dotted, 1.5, "must be a whole number, not the number 1.5"),
            (_dotted, True, "must be a whole number, not the boolean true"),
            (_dotted, -1, f"must be at least {_schema['minimum']}, not -1"),
            (_dotted, 1000, f"must be at most {_schema['maximum']}, not 1000"),
        ]
    elif _kind == "number":
        BAD_VALUES += [
            (_dotted, "5", "must be a number (write the number without quotes)"),
            (_dotted, False, "must be a number, not the boolean false"),
            (_dotted, -1, "must be "),
            (_dotted, [1], "must be a number, not a list"),
        ]
    elif _kind == ["string", "null"]:
        _longest = _schema["maxLength"]
        BAD_VALUES += [
            (_dotted, 5, "must be text or null, not the number 5"),
            (_dotted, "", "must not be empty"),
            (_dotted, "x" * (_longest + 1), f"is too long ({_longest + 1} characters; at most"),
        ]
        if "pattern" in _schema:
            BAD_VALUES.append((_dotted, "two words", "is not a valid model name"))
    elif _kind == "string":
        BAD_VALUES += [
            (_dotted, "fast-forward", "must be one of merge, squash, rebase, not the text"),
            (_dotted, True, "must be one of merge, squash, rebase, not the boolean true"),
        ]
    elif _kind in ("array", ["array", "null"]):
        _most = _schema["maxItems"]
        _list = "a list or null" if _kind != "array" else "a list"
        BAD_VALUES += [
            (_dotted, "vendor/**", f"must be {_list}, not the text"),
            (_dotted, ["ok", 3], "must be text, not the number 3"),
            (_dotted, [""], "must not be empty"),
            (_dotted, ["x"] * (_most + 1), f"lists {_most + 1} entries; at most {_most} are"),
        ]


@pytest.mark.parametrize(
    ("dotted", "value", "message"), BAD_VALUES, ids=[f"{d}={v!r}"[:60] for d, v, _ in BAD_VALUES]
)
def test_each_key_rejects_wrong_values_naming_key_problem_and_line(
    dotted: str, value: Any, message: str
) -> None:
    text = "# settings\n" + nested(dotted, value)
    result = parse_repo_config(text)
    assert result.config == DEFAULTS
    assert len(result.errors) == 1, result.errors
    (error,) = result.errors
    assert error.path.split("[")[0] == dotted
    assert error.message.startswith(message)
    leaf_key = dotted.rsplit(".", 1)[-1] + ":"
    lines = text.splitlines()
    expected_line = next(i for i, line in enumerate(lines, 1) if line.strip().startswith(leaf_key))
    if "[" in error.path:
        expected_line += 1 + int(error.path.split("[")[1].rstrip("]"))
    assert error.line == expected_line


def test_a_key_with_no_value_says_how_to_get_the_default() -> None:
    (error,) = parse_repo_config("workflow:\n  merge_method:\n").errors
    assert error == ConfigProblem(
        "workflow.merge_method",
        "has no value; give it one of merge, squash, rebase, or delete the line to use the "
        'default "squash"',
        2,
    )


def test_any_error_means_full_defaults_even_for_valid_keys() -> None:
    text = "workflow:\n  merge_method: merge\n  required_approvals: 0\n"
    result = parse_repo_config(text)
    assert result.config == DEFAULTS
    assert [(e.path, e.line) for e in result.errors] == [("workflow.required_approvals", 3)]
    assert not result.ok


def test_several_errors_are_all_reported_in_line_order() -> None:
    text = "budgets:\n  per_month_usd: 0\nworkflow:\n  merge_method: x\n  personas: true\n"
    result = parse_repo_config(text)
    assert [(e.path, e.line) for e in result.errors] == [
        ("budgets.per_month_usd", 2),
        ("workflow.merge_method", 4),
    ]
    assert [(w.path, w.suggestion) for w in result.warnings] == [
        ("workflow.personas", "progress.personas")
    ]


@pytest.mark.parametrize(
    ("text", "path", "line", "suggestion"),
    [
        ("workflow:\n  merge_methd: merge\n", "workflow.merge_methd", 2, "workflow.merge_method"),
        ("worklfow:\n  merge_method: merge\n", "worklfow", 1, "workflow"),
        ("merge_method: merge\n", "merge_method", 1, "workflow.merge_method"),
        ("agents:\n  models:\n    reviewer: x\n", "agents.models.reviewer", 3, None),
        ("on: push\n", "on", 1, None),
        ("budget:\n  per_job_usd: 1\n", "budget", 1, "budgets"),
    ],
)
def test_unknown_keys_are_warnings_with_a_suggestion(
    text: str, path: str, line: int, suggestion: str | None
) -> None:
    result = parse_repo_config(text)
    assert result.errors == []
    (warning,) = result.warnings
    assert (warning.path, warning.line, warning.suggestion) == (path, line, suggestion)
    assert f"unknown setting `{path}`, ignored" in warning.message
    if suggestion:
        assert warning.message.endswith(f"did you mean `{suggestion}`?")


def test_unknown_keys_do_not_stop_the_known_ones() -> None:
    result = parse_repo_config("workflow:\n  merge_method: rebase\n  auto_merge: true\n")
    assert result.config.workflow.merge_method is MergeMethod.REBASE
    assert [w.path for w in result.warnings] == ["workflow.auto_merge"]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("workflow:\n  merge_method: [squash\nbudgets: {}\n", 3, "flow sequence"),
        ("workflow:\n\tmerge_method: merge\n", 2, "'\\t'"),
        ("a: 1\n---\nb: 2\n", 2, "expected a single document"),
        ("workflow: {merge_method: squash\n", 2, "flow mapping"),
        ("key: 'unterminated\n", 2, "quoted scalar"),
        ("? [a, b]\n: 1\n", 1, "unhashable key"),
        ("a: *nowhere\n", 1, "undefined alias"),
        ("ok: 1\nbell: \x07\n", 2, "character YAML does not allow (U+0007)"),
    ],
)
def test_yaml_syntax_errors_give_one_problem_with_the_line(
    text: str, line: int, fragment: str
) -> None:
    result = parse_repo_config(text)
    assert result.config == DEFAULTS
    (error,) = result.errors
    assert error.path == ""
    assert error.line == line
    assert fragment in error.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- workflow\n", "the file must be a mapping of settings such as `workflow:`, not a list"),
        ("squash\n", 'the file must be a mapping of settings such as `workflow:`, not the text "s'),
        ("workflow: squash\n", "must be a mapping of keys, not the text"),
    ],
)
def test_wrong_shapes_are_errors(text: str, message: str) -> None:
    (error,) = parse_repo_config(text).errors
    assert error.message.startswith(message)
    assert error.line == 1


def test_duplicate_keys_are_an_error_naming_both_lines() -> None:
    result = parse_repo_config("workflow:\n  merge_method: merge\n  merge_method: rebase\n")
    assert result.config == DEFAULTS
    assert result.errors == [
        ConfigProblem("workflow.merge_method", "appears twice (lines 2 and 3); keep one", 3)
    ]


def test_alias_bombs_recursion_and_huge_files_are_refused_quickly() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    bomb = "\n".join(levels) + "\npaths: {ignore_for_review: *a8}\n"
    for text in [
        bomb,
        "&a [*a]\n",
        "workflow: " + "[" * 5000 + "]" * 5000,
        "# " + "x" * MAX_CONFIG_CHARS,
    ]:
        result = parse_repo_config(text)
        assert result.config == DEFAULTS
        (error,) = result.errors
        assert "too large" in error.message or "too deeply nested" in error.message


def test_budget_limits_that_can_never_be_reached_are_warned_about() -> None:
    text = "budgets:\n  per_job_usd: 10\n  per_work_item_usd: 8\n  per_month_usd: 7\n"
    result = parse_repo_config(text)
    assert result.errors == []
    assert result.config.budgets.per_job_usd == 10
    assert [(w.path, w.line) for w in result.warnings] == [
        ("budgets.per_job_usd", 2),
        ("budgets.per_work_item_usd", 3),
    ]
    assert result.warnings[0].message == (
        "is 10, more than `budgets.per_work_item_usd` (8), so the larger limit can never be reached"
    )
    assert parse_repo_config("budgets:\n  per_job_usd: 5\n").warnings == []


def test_problems_markdown_says_defaults_were_used_and_how_to_fix() -> None:
    result = parse_repo_config("workflow:\n  merge_method: fast\n  auto: true\n")
    text = render_problems_markdown(result.errors, result.warnings)
    assert "fell back to the default settings" in text
    assert "| 2 | `workflow.merge_method` | must be one of merge, squash, rebase" in text
    assert "| 3 | `workflow.auto` |" in text
    assert "edit `.github/aios.yml` on the default branch" in text

    only_warnings = render_problems_markdown([], result.warnings)
    assert "fell back" not in only_warnings
    assert "ignored part of it" in only_warnings
    assert render_problems_markdown([]) == ""


def test_problems_markdown_escapes_table_breakers_and_caps_its_length() -> None:
    problem = ConfigProblem("a|b", "bad | value\nnext", 1)
    text = render_problems_markdown([problem])
    assert "| 1 | `a|b` | bad \\| value next |" in text

    many = [ConfigProblem(f"k{i}", "bad", i) for i in range(MAX_LISTED_PROBLEMS + 5)]
    text = render_problems_markdown(many)
    assert "`k29`" in text and "`k30`" not in text
    assert "… and 5 more" in text


def test_reference_mentions_every_key_with_type_default_and_description() -> None:
    reference = config_reference_markdown()
    for dotted, schema in LEAVES:
        row = next(line for line in reference.splitlines() if line.startswith(f"| `{dotted}` |"))
        assert schema["description"].split("`")[0] in row
    assert '| `workflow.merge_method` | one of `merge`, `squash`, `rebase` | `"squash"` |' in (
        reference
    )
    assert "| `workflow.required_approvals` | integer, 1 to 10 | `1` |" in reference
    assert reference.count("\n| `") == len(LEAVES)


def test_the_readme_documents_every_key_as_generated() -> None:
    from pathlib import Path

    from bot.config.docs import config_reference_markdown

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    rows = [line for line in config_reference_markdown().splitlines() if line.startswith("| `")]
    assert rows and all(row in readme for row in rows), "regenerate the README's settings table"
