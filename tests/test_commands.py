"""The /aios grammar: a table of cases and properties that hold for any comment body."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import (
    COMMAND_SPECS,
    HELP_TEXT,
    MAX_ARGUMENT_CHARS,
    ArgumentRule,
    Command,
    CommandError,
    CommandName,
    parse_commands,
    render_help,
)

N = CommandName


def commands(body: str) -> list[tuple[str, str, int]]:
    """Well-formed commands only, as (name, argument, line)."""
    return [
        (c.name.value, c.argument, c.line) for c in parse_commands(body) if isinstance(c, Command)
    ]


def errors(body: str) -> list[CommandError]:
    return [c for c in parse_commands(body) if isinstance(c, CommandError)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/aios approve", [("approve", "", 1)]),
        ("/AIOS Approve", [("approve", "", 1)]),
        ("/aios approve.", [("approve", "", 1)]),
        ("/aios approve!", [("approve", "", 1)]),
        ("/aios", [("help", "", 1)]),
        ("/aios   ", [("help", "", 1)]),
        ("/aios help", [("help", "", 1)]),
        ("/aios status", [("status", "", 1)]),
        ("/aios review", [("review", "", 1)]),
        ("/aios test", [("test", "", 1)]),
        ("/aios cost", [("cost", "", 1)]),
        ("/aios retry", [("retry", "", 1)]),
        ("/aios cancel", [("cancel", "", 1)]),
        ("/aios plan", [("plan", "", 1)]),
        (
            "/aios plan split the backend task in two",
            [("plan", "split the backend task in two", 1)],
        ),
        ("/aios fix rename `foo` to `bar`", [("fix", "rename `foo` to `bar`", 1)]),
        ("/aios fix: rename the flag", [("fix", "rename the flag", 1)]),
        ("/aios remember  we use   pytest  ", [("remember", "we use   pytest", 1)]),
        ("/aios forget 2", [("forget", "2", 1)]),
        ("/aios forget #12", [("forget", "12", 1)]),
        ("/aios forget 007", [("forget", "7", 1)]),
        # Markdown indentation: up to 3 spaces is still a line start, 4 is a code block
        ("   /aios approve", [("approve", "", 3 - 2)]),
        ("    /aios approve", []),
        ("\t/aios approve", []),
        ("  \t/aios approve", []),
        # not commands at all
        ("/aiosfoo", []),
        ("/aios-approve", []),
        ("please /aios approve", []),
        ("- /aios approve", []),
        ("`/aios approve`", []),
        ("> /aios approve", []),
        ("  > /aios approve", []),
        (">/aios approve", []),
        ("```\n/aios approve\n```", []),
        ("~~~python\n/aios approve\n~~~", []),
        ("```\n/aios approve", []),  # an unclosed fence runs to the end
        ("````\n```\n/aios approve\n````", []),  # a shorter fence does not close a longer one
        ("```\n~~~\n/aios approve\n```", []),  # nor does the other fence character
        ("<!--\n/aios approve\n-->", []),
        ("<!-- /aios approve -->", []),
        ("text <!--\n/aios approve\n--> more", []),
        ("see `this\n/aios approve\nspan` here", []),
        ("see `this\n    indented\n/aios approve\nspan` here", []),
        ("paragraph\n    /aios approve", []),
        ("``a`\n/aios approve\n``", []),
        # ...but an unclosed backtick is literal, so the next line is still a command
        ("a stray ` backtick\n/aios approve", [("approve", "", 2)]),
        ("an escaped \\`\n/aios approve\n`", [("approve", "", 2)]),
        # after a block closes, commands count again
        ("```\ncode\n```\n/aios test", [("test", "", 4)]),
        ("> quoted\n\n/aios test", [("test", "", 3)]),
        ("> quoted\n/aios test", [("test", "", 2)]),  # a lazy continuation is the author's own
        ("<!--\nhidden\n-->\n/aios test", [("test", "", 4)]),
        # several commands, Windows and old-Mac line endings, line numbers are 1-based
        ("/aios approve\r\n/aios test\r\n", [("approve", "", 1), ("test", "", 2)]),
        ("/aios approve\r/aios test", [("approve", "", 1), ("test", "", 2)]),
        ("intro\n\n/aios plan more tests\nthanks", [("plan", "more tests", 3)]),
        ("/aios fix a\n/aios fix b", [("fix", "a", 1), ("fix", "b", 2)]),
        # whitespace between /aios and the name may be any whitespace, unicode included
        ("/aios\tapprove", [("approve", "", 1)]),
        ("/aios\u00a0approve", [("approve", "", 1)]),
        ("/aios remember\tnaïve — ünïcödé ✓", [("remember", "naïve — ünïcödé ✓", 1)]),
    ],
)
def test_commands_table(body: str, expected: list[tuple[str, str, int]]) -> None:
    assert commands(body) == expected
    assert errors(body) == []


@pytest.mark.parametrize(
    ("body", "reason", "suggestion", "name"),
    [
        ("/aios frobnicate", "unknown command 'frobnicate'", None, None),
        ("/aios aprove", "unknown command 'aprove'", N.APPROVE, None),
        ("/aios stauts", "unknown command 'stauts'", N.STATUS, None),
        ("/aios Remeber this", "unknown command 'Remeber'", N.REMEMBER, None),
        ("/aios fix", "fix needs a description of what to change", None, N.FIX),
        ("/aios fix   ", "fix needs a description of what to change", None, N.FIX),
        ("/aios remember", "remember needs the text to remember", None, N.REMEMBER),
        ("/aios forget", "forget needs a memory number, e.g. /aios forget 2", None, N.FORGET),
        ("/aios forget two", "forget needs a memory number, e.g. /aios forget 2", None, N.FORGET),
        ("/aios forget 0", "forget needs a memory number", None, N.FORGET),
        ("/aios forget -1", "forget needs a memory number", None, N.FORGET),
        ("/aios forget 2 3", "forget needs a memory number", None, N.FORGET),
        ("/aios forget \uff12", "forget needs a memory number", None, N.FORGET),
        ("/aios forget " + "9" * 50, "forget needs a memory number", None, N.FORGET),
        ("/aios approve please", "approve takes no argument", None, N.APPROVE),
        ("/aios help me", "help takes no argument", None, N.HELP),
        ("/aios status now", "status takes no argument", None, N.STATUS),
        ("/aios cost?", "unknown command 'cost?'", N.COST, None),
        ("/aios cancel it", "cancel takes no argument", None, N.CANCEL),
        ("/aios review this", "review takes no argument", None, N.REVIEW),
        ("/aios test all", "test takes no argument", None, N.TEST),
        ("/aios retry again", "retry takes no argument", None, N.RETRY),
    ],
)
def test_errors_table(body: str, reason: str, suggestion: CommandName | None, name: str) -> None:
    (error,) = parse_commands(body)
    assert isinstance(error, CommandError)
    assert error.reason.startswith(reason)
    assert error.suggestion == suggestion
    assert error.name == name
    assert error.line == 1
    assert error.text == body.strip()


def test_argument_longer_than_the_cap_is_an_error_that_says_the_limit() -> None:
    ok = "/aios fix " + "x" * MAX_ARGUMENT_CHARS
    assert commands(ok) == [("fix", "x" * MAX_ARGUMENT_CHARS, 1)]
    (error,) = parse_commands(ok + "x")
    assert isinstance(error, CommandError)
    assert "too long" in error.reason
    assert f"{MAX_ARGUMENT_CHARS:,}" in error.reason


def test_very_long_input_is_parsed_quickly_and_completely() -> None:
    noise = "word `tick ``` <!-- \\` x\n" * 20_000
    body = noise + "\n/aios test\n" + "`" * 100_000
    found = parse_commands(body)
    assert [c.name for c in found if isinstance(c, Command)] == [N.TEST]


def test_commands_and_errors_keep_their_order() -> None:
    found = parse_commands("/aios test\n/aios nope\n/aios cost")
    assert [type(c).__name__ for c in found] == ["Command", "CommandError", "Command"]
    assert [c.line for c in found] == [1, 2, 3]


def test_forget_exposes_its_number() -> None:
    (forget,) = parse_commands("/aios forget #4")
    assert isinstance(forget, Command)
    assert forget.number == 4
    (other,) = parse_commands("/aios test")
    assert isinstance(other, Command)
    assert other.number is None


def test_help_lists_every_command_from_the_spec_table() -> None:
    assert [spec.name for spec in COMMAND_SPECS] == list(CommandName)
    for spec in COMMAND_SPECS:
        assert f"| `/aios {spec.usage}` | {spec.summary} |" in HELP_TEXT
        if spec.rule in (ArgumentRule.REQUIRED, ArgumentRule.POSITIVE_INT):
            assert spec.missing.startswith(f"{spec.name} needs")


def test_help_with_an_error_names_the_line_the_problem_and_the_fix() -> None:
    (error,) = parse_commands("hello\n/aios aprove")
    assert isinstance(error, CommandError)
    reply = render_help(error)
    assert reply.startswith("⚠️ Line 2: `/aios aprove`: unknown command 'aprove'.")
    assert "Did you mean `/aios approve`?" in reply
    assert HELP_TEXT.strip() in reply

    (usage,) = parse_commands("/aios fix")
    assert isinstance(usage, CommandError)
    assert "Usage: `/aios fix <what to change>`." in render_help(usage)


def test_help_does_not_let_user_text_mention_people_or_format() -> None:
    (error,) = parse_commands("/aios @octocat **bold** [x](http://e.example)")
    assert isinstance(error, CommandError)
    first_line = render_help(error).splitlines()[0]
    reason = first_line.split("`: ", 1)[1]
    assert "@octocat" not in reason
    assert "**" not in reason
    assert "](" not in reason


def test_help_quotes_text_with_backticks_in_a_code_span_that_holds() -> None:
    (error,) = parse_commands("/aios approve `now` ``please``")
    assert isinstance(error, CommandError)
    assert "``` /aios approve `now` ``please`` ```" in render_help(error)


# ---------------------------------------------------------------------------------------------
# Properties.

NAMES = [spec.name.value for spec in COMMAND_SPECS]
markdownish = st.lists(
    st.sampled_from(
        [
            *["/aios", " ", "\t", "\n", "\r\n", "\r", "```", "~~~", "`", ">", "<!--", "-->"],
            *["\\", "#", "x", "é", "\u00a0", "2", "-1", ".", ":"],
            *NAMES,
        ]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=400), markdownish))
def test_no_input_crashes_and_every_name_is_known(body: str) -> None:
    for found in parse_commands(body):
        assert isinstance(found, Command | CommandError)
        assert found.line >= 1
        if isinstance(found, Command):
            assert found.name in CommandName
            assert len(found.argument) <= MAX_ARGUMENT_CHARS
        elif found.suggestion is not None:
            assert found.suggestion in CommandName


def _longest_run(text: str, char: str) -> int:
    return max((len(run) for run in re.findall(re.escape(char) + "+", text)), default=0)


@settings(max_examples=200, deadline=None)
@given(markdownish, st.sampled_from(["`", "~"]), st.booleans(), st.sampled_from(["", "  "]))
def test_text_inside_a_code_fence_never_yields_commands(
    inside: str, char: str, closed: bool, indent: str
) -> None:
    fence = char * max(3, _longest_run(inside, char) + 1)
    body = f"{indent}{fence}\n{inside}\n{indent}{fence}" if closed else f"{fence}\n{inside}"
    assert parse_commands(body) == []


@settings(max_examples=200, deadline=None)
@given(markdownish)
def test_text_inside_a_block_quote_never_yields_commands(inside: str) -> None:
    lines = re.split(r"\r\n|\r|\n", inside)
    body = "\n".join("> " + line for line in lines)
    assert parse_commands(body) == []


_BLOCK_START = re.compile(r"^ {0,3}(```|~~~|>|<!--)|^[ \t]*$")


@settings(max_examples=200, deadline=None)
@given(markdownish.filter(lambda s: "`" not in s))
def test_text_inside_inline_code_never_yields_commands(inside: str) -> None:
    lines = re.split(r"\r\n|\r|\n", inside)
    if any(_BLOCK_START.match(line) for line in lines[1:]):
        return  # a blank line, fence, quote or HTML block ends the paragraph, and the span
    assert parse_commands(f"see `{inside}`") == []


argument_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=200,
)


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[str, CommandName, str]:
    spec = draw(st.sampled_from(COMMAND_SPECS))
    if spec.rule is ArgumentRule.NONE:
        argument = ""
    elif spec.rule is ArgumentRule.POSITIVE_INT:
        argument = str(draw(st.integers(min_value=1, max_value=999_999_999)))
    elif spec.rule is ArgumentRule.AMOUNT:
        argument = draw(st.sampled_from(["+", ""])) + str(draw(st.integers(1, 10_000)))
    else:
        argument = draw(argument_text).strip()
        if spec.rule is ArgumentRule.REQUIRED and not argument:
            argument = "something"
    name = "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in spec.name.value)
    slash = draw(st.sampled_from(["/aios", "/AIOS", "/Aios"]))
    indent = draw(st.sampled_from(["", " ", "   "]))
    gap = draw(st.sampled_from([" ", "  ", "\t"]))
    line = f"{indent}{slash}{gap}{name}" + (f"{gap}{argument}" if argument else "")
    return line, spec.name, argument


@settings(max_examples=200, deadline=None)
@given(command_lines(), st.sampled_from(["", "Thanks!\n\n", "```\n/aios cancel\n```\n"]))
def test_a_valid_command_line_round_trips(case: tuple[str, CommandName, str], before: str) -> None:
    line, name, argument = case
    body = before + line + "\n"
    (found,) = parse_commands(body)
    assert found == Command(name, argument, before.count("\n") + 1)
