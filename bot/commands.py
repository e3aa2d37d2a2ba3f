"""The `/aios` comment-command grammar: parse a comment body into commands, render help (pure).

Rules, in the order a reader meets them:

- A command is a line that starts with `/aios` (any case) followed by whitespace or the end
  of the line; `/aiosfoo`, `/aios-foo` and `- /aios approve` (a list item) are not commands.
  Up to 3 leading spaces are allowed, as in Markdown; a line indented 4 or more columns (a tab
  counts to the next multiple of 4) is never a command: it is an indented code block or a
  paragraph continuation.
- Lines inside fenced code blocks (``` or ~~~), block quotes (lines starting with `>`), HTML
  comments and inline code spans are never commands: quoting or showing a command must not
  run it. A line that does not itself start with `>` is the author's own text, even where
  Markdown would fold it into the quote above ("lazy continuation").
- One command per line; several lines may carry commands; they are returned in order.
  The argument is the rest of that line only.
- `/aios` alone means `help`. The command name is case-insensitive and may carry trailing
  `.`, `!` or `:` (`/aios fix: rename the flag`).
- Commands that take no argument reject one (`/aios approve please` is an error, not an
  approval), so typos and afterthoughts are surfaced instead of silently acted on.
- Arguments are capped at `MAX_ARGUMENT_CHARS` characters.
"""

from __future__ import annotations

import bisect
import difflib
import enum
import re
from dataclasses import dataclass

MAX_ARGUMENT_CHARS = 2000
"""Longest argument accepted; longer text belongs in the issue body, not a command line."""

MAX_USD = 100_000
"""Largest budget amount a command accepts; more is a typo, not a budget."""

_AMOUNT = re.compile(r"(?P<sign>\+?)(?P<value>\d{1,9}(?:\.\d{1,2})?)")

_SHOWN_CHARS = 80
"""How much of a user's text an error message or help reply quotes back."""


class CommandName(enum.StrEnum):
    HELP = "help"
    STATUS = "status"
    PLAN = "plan"
    APPROVE = "approve"
    REVIEW = "review"
    FIX = "fix"
    TEST = "test"
    COST = "cost"
    BUDGET = "budget"
    RETRY = "retry"
    CANCEL = "cancel"
    REMEMBER = "remember"
    FORGET = "forget"


class ArgumentRule(enum.Enum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"
    POSITIVE_INT = "positive integer"
    AMOUNT = "amount of dollars"


@dataclass(frozen=True)
class CommandSpec:
    """One row of the command table: drives both parsing and the help reply."""

    name: CommandName
    rule: ArgumentRule
    usage: str
    summary: str
    missing: str = ""
    """The error when a required argument is absent."""


COMMAND_SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(CommandName.HELP, ArgumentRule.NONE, "help", "Show this list of commands."),
    CommandSpec(
        CommandName.STATUS,
        ArgumentRule.NONE,
        "status",
        "Report where this work item stands, what is running and what comes next.",
    ),
    CommandSpec(
        CommandName.PLAN,
        ArgumentRule.OPTIONAL,
        "plan [feedback]",
        "Ask the CTO agent to (re)write the plan, taking your feedback into account.",
    ),
    CommandSpec(
        CommandName.APPROVE,
        ArgumentRule.NONE,
        "approve",
        "Approve the current plan so the agents start implementing it.",
    ),
    CommandSpec(
        CommandName.REVIEW,
        ArgumentRule.NONE,
        "review",
        "Ask the QA agent to review the pull request's diff now.",
    ),
    CommandSpec(
        CommandName.FIX,
        ArgumentRule.REQUIRED,
        "fix <what to change>",
        "Ask the developer agent to make the described change on the pull request's branch.",
        missing="fix needs a description of what to change, e.g. /aios fix rename the flag",
    ),
    CommandSpec(
        CommandName.TEST,
        ArgumentRule.NONE,
        "test",
        "Run the repository's tests on the branch and report the result.",
    ),
    CommandSpec(
        CommandName.COST,
        ArgumentRule.NONE,
        "cost",
        "Show the tokens and money spent on this work item against its budget.",
    ),
    CommandSpec(
        CommandName.BUDGET,
        ArgumentRule.AMOUNT,
        "budget +<usd>",
        "Raise this work item's budget by that many dollars (or set it: `budget <usd>`); a "
        "work item paused at its budget continues.",
        missing="budget needs an amount, e.g. /aios budget +5",
    ),
    CommandSpec(
        CommandName.RETRY,
        ArgumentRule.NONE,
        "retry",
        "Retry the step that failed last.",
    ),
    CommandSpec(
        CommandName.CANCEL,
        ArgumentRule.NONE,
        "cancel",
        "Stop all work on this item; nothing more is pushed.",
    ),
    CommandSpec(
        CommandName.REMEMBER,
        ArgumentRule.REQUIRED,
        "remember <text>",
        "Store a lesson the agents apply to all future work in this repository.",
        missing="remember needs the text to remember, e.g. /aios remember use pytest fixtures",
    ),
    CommandSpec(
        CommandName.FORGET,
        ArgumentRule.POSITIVE_INT,
        "forget <n>",
        "Delete memory number n (`/aios status` and the Control Center list them by number).",
        missing="forget needs a memory number, e.g. /aios forget 2",
    ),
)

_SPECS: dict[str, CommandSpec] = {spec.name.value: spec for spec in COMMAND_SPECS}


@dataclass(frozen=True)
class Command:
    """A well-formed command. `argument` is "" for commands without one."""

    name: CommandName
    argument: str
    line: int
    """1-based line number in the comment body."""

    @property
    def number(self) -> int | None:
        """The memory number of a `forget` command; None for every other command."""
        return int(self.argument) if self.name is CommandName.FORGET else None


@dataclass(frozen=True)
class CommandError:
    """A line that is meant as a command but cannot be run; `reason` says why."""

    line: int
    text: str
    """The line as written, without surrounding whitespace."""
    reason: str
    suggestion: CommandName | None = None
    """For an unknown name, the closest known one (if any is close)."""
    name: CommandName | None = None
    """For a known name with a bad argument, that name (so a reply can show its usage)."""


# ---------------------------------------------------------------------------------------------
# Markdown structure: which lines can carry a command at all.

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FENCE_OPEN = re.compile(r"(`{3,}|~{3,})(.*)")
_COMMAND = re.compile(r"/aios(?=\s|$)(.*)", re.IGNORECASE | re.DOTALL)
_INLINE_TOKEN = re.compile(r"\\.|`+|<!--", re.DOTALL)
_BACKTICKS = re.compile(r"`+")
_WHITESPACE = re.compile(r"\s+")
_NAME_PUNCTUATION = ".!:"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~])")


def _indent(line: str) -> tuple[int, str]:
    """Markdown indentation in columns (tabs to the next multiple of 4) and the rest."""
    column = 0
    for index, char in enumerate(line):
        if char == " ":
            column += 1
        elif char == "\t":
            column = (column // 4 + 1) * 4
        else:
            return column, line[index:]
    return column, ""


def _candidate_lines(body: str) -> list[tuple[int, str]]:
    """(line number, text without indentation) of every line that may hold a command."""
    lines = _LINE_BREAK.split(body)
    candidates: list[tuple[int, str]] = []
    paragraph: list[tuple[int, str, bool]] = []
    fence: tuple[str, int] | None = None
    in_html_comment = False

    def flush() -> None:
        candidates.extend(_outside_inline_spans(paragraph))
        paragraph.clear()

    for number, raw in enumerate(lines, start=1):
        column, text = _indent(raw)
        if fence is not None:
            closing = text.rstrip(" \t")
            char, length = fence
            if column < 4 and closing and set(closing) == {char} and len(closing) >= length:
                fence = None
            continue
        if in_html_comment:
            in_html_comment = "-->" not in raw
            continue
        if not text:
            flush()
            continue
        if column >= 4:
            # an indented line continues a paragraph (code spans may run through it) but
            # never holds a command; without a paragraph it is an indented code block
            if paragraph:
                paragraph.append((number, text, False))
            continue
        opening = _FENCE_OPEN.match(text)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            flush()
            fence = (opening.group(1)[0], len(opening.group(1)))
            continue
        if text.startswith(">"):
            flush()
            continue
        if text.startswith("<!--"):
            flush()
            in_html_comment = "-->" not in text[4:]
            continue
        paragraph.append((number, text, True))
    flush()
    return candidates


def _outside_inline_spans(paragraph: list[tuple[int, str, bool]]) -> list[tuple[int, str]]:
    """The paragraph's eligible lines whose start is not in a code span or an HTML comment.

    Code spans and HTML comments may run across the lines of one paragraph, so the spans are
    found on the joined text (CommonMark: a run of n backticks closes at the next run of
    exactly n; an unclosed run is literal). Linear apart from a bisect per backtick run.
    """
    if not paragraph:
        return []
    starts: list[int] = []
    offset = 0
    for _, text, _ in paragraph:
        starts.append(offset)
        offset += len(text) + 1
    joined = "\n".join(text for _, text, _ in paragraph)
    if "`" not in joined and "<!--" not in joined:
        return [(number, text) for number, text, eligible in paragraph if eligible]

    runs: dict[int, list[int]] = {}
    for run in _BACKTICKS.finditer(joined):
        runs.setdefault(run.end() - run.start(), []).append(run.start())

    masked: list[tuple[int, int]] = []
    position = 0
    while True:
        token = _INLINE_TOKEN.search(joined, position)
        if token is None:
            break
        kind = token.group()
        position = token.end()
        if kind.startswith("\\"):
            continue
        if kind == "<!--":
            close = joined.find("-->", position)
            if close != -1:
                masked.append((token.start(), close + 3))
                position = close + 3
            continue
        same_length = runs.get(len(kind), [])
        index = bisect.bisect_left(same_length, token.end())
        if index < len(same_length):
            close_end = same_length[index] + len(kind)
            masked.append((token.start(), close_end))
            position = close_end

    kept = []
    span = 0
    for (number, text, eligible), start in zip(paragraph, starts, strict=True):
        while span < len(masked) and masked[span][1] <= start:
            span += 1
        if eligible and not (span < len(masked) and masked[span][0] < start):
            kept.append((number, text))
    return kept


# ---------------------------------------------------------------------------------------------
# Command lines.


def _shorten(text: str, limit: int = _SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_line(number: int, text: str) -> Command | CommandError | None:
    match = _COMMAND.match(text)
    if match is None:
        return None
    written = text.strip()
    rest = match.group(1).strip()
    if not rest:
        return Command(CommandName.HELP, "", number)
    word, *tail = _WHITESPACE.split(rest, maxsplit=1)
    argument = tail[0].strip() if tail else ""
    name = word.rstrip(_NAME_PUNCTUATION).casefold()
    spec = _SPECS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, list(_SPECS), n=1, cutoff=0.6)
        return CommandError(
            number,
            written,
            f"unknown command '{_shorten(word, 40)}'",
            suggestion=CommandName(close[0]) if close else None,
        )
    return _check_argument(spec, number, written, argument)


def _check_argument(
    spec: CommandSpec, number: int, written: str, argument: str
) -> Command | CommandError:
    def error(reason: str) -> CommandError:
        return CommandError(number, written, reason, name=spec.name)

    if len(argument) > MAX_ARGUMENT_CHARS:
        return error(
            f"the text after /aios {spec.name} is too long ({len(argument):,} characters; "
            f"the limit is {MAX_ARGUMENT_CHARS:,}): put the details in the issue or pull "
            "request and refer to them"
        )
    if spec.rule is ArgumentRule.NONE:
        if argument:
            return error(
                f"{spec.name} takes no argument (found '{_shorten(argument, 40)}'); "
                f"write /aios {spec.name} alone on its line"
            )
        return Command(spec.name, "", number)
    if spec.rule is ArgumentRule.OPTIONAL:
        return Command(spec.name, argument, number)
    if not argument:
        return error(spec.missing)
    if spec.rule is ArgumentRule.AMOUNT:
        amount = _AMOUNT.fullmatch(argument.replace("$", "", 1).replace(" ", ""))
        if amount is None or float(amount["value"]) <= 0 or float(amount["value"]) > MAX_USD:
            return error(f"{spec.missing} (a number of dollars above 0, at most {MAX_USD:,})")
        return Command(spec.name, f"{amount['sign']}{float(amount['value']):g}", number)
    if spec.rule is ArgumentRule.POSITIVE_INT:
        digits = argument.removeprefix("#")
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 9 or int(digits) < 1:
            return error(f"{spec.missing} (memory numbers are whole numbers from 1)")
        return Command(spec.name, str(int(digits)), number)
    return Command(spec.name, argument, number)


def parse_commands(body: str) -> list[Command | CommandError]:
    """Every command line of a comment body, in order of appearance.

    Lines that are not commands are skipped; lines that look like commands but are not
    well-formed come back as `CommandError`s so the caller can reply with the reason.
    """
    found: list[Command | CommandError] = []
    for number, text in _candidate_lines(body):
        parsed = _parse_line(number, text)
        if parsed is not None:
            found.append(parsed)
    return found


# ---------------------------------------------------------------------------------------------
# The help reply.


def _code(text: str) -> str:
    """`text` as an inline code span that survives backticks inside it (and never pings)."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def _escape(text: str) -> str:
    """Plain text safe to embed in Markdown: no formatting, links or @-mentions."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("@", "@\u200b")


def render_help(error: CommandError | None = None) -> str:
    """A Markdown reply listing every command; with `error`, it first says what went wrong."""
    parts: list[str] = []
    if error is not None:
        shown = _code(_shorten(error.text))
        message = f"⚠️ Line {error.line}: {shown}: {_escape(error.reason)}."
        if error.suggestion is not None:
            message += f" Did you mean `/aios {error.suggestion}`?"
        elif error.name is not None:
            message += f" Usage: `/aios {_SPECS[error.name.value].usage}`."
        parts.append(message)
    rows = "\n".join(f"| `/aios {spec.usage}` | {spec.summary} |" for spec in COMMAND_SPECS)
    parts.append(
        "**AIOS commands.** Write each at the start of its own line in an issue or pull "
        "request comment:\n\n"
        f"| command | what it does |\n| --- | --- |\n{rows}"
    )
    parts.append(
        "Only people with write access to the repository can run commands. Commands inside "
        "code blocks, inline code, quotes and HTML comments are ignored, so you can quote "
        "them safely. The repository's **AIOS Control Center** issue lists every work item, "
        "what waits for you, the budget, what the agents learned and the scorecard."
    )
    return "\n\n".join(parts) + "\n"


HELP_TEXT = render_help()
"""The help reply with no error, for `/aios help`."""
