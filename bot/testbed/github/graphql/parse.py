"""A small GraphQL parser for the fake GitHub: operations made of fields, arguments, variables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

TOKEN = re.compile(
    r"""(?P<skip>[\s,\ufeff]+|\#[^\n]*)
      |(?P<spread>\.\.\.)
      |(?P<punct>[!$():=@\[\]{}|])
      |(?P<string>"(?:[^"\\\n]|\\.)*")
      |(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      |(?P<name>[_A-Za-z][_0-9A-Za-z]*)""",
    re.VERBOSE,
)


class Unsupported(Exception):
    """The request uses GraphQL the fake does not implement (or is not GraphQL at all)."""


@dataclass(frozen=True)
class Var:
    name: str


@dataclass
class Field:
    name: str
    alias: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    selections: list[Field] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class Operation:
    kind: str  # query | mutation | subscription
    name: str | None
    selections: list[Field]


class Parser:
    """Just enough of the GraphQL grammar for operations built from fields and arguments."""

    def __init__(self, source: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(source):
            match = TOKEN.match(source, position)
            if match is None:
                raise Unsupported(f"cannot parse the query at {source[position : position + 20]!r}")
            position = match.end()
            if match.lastgroup != "skip":
                self.tokens.append((str(match.lastgroup), match.group()))
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise Unsupported("the query ends too early")
        kind, text = self.tokens[self.at]
        if expected is not None and text != expected:
            raise Unsupported(f"expected {expected!r}, found {text!r}")
        self.at += 1
        return kind, text

    def document(self) -> list[Operation]:
        operations = []
        while self.peek() is not None:
            operations.append(self.operation())
        return operations

    def operation(self) -> Operation:
        if self.peek() == "{":
            return Operation("query", None, self.selection_set())
        kind, word = self.take()
        if kind != "name" or word not in ("query", "mutation", "subscription"):
            raise Unsupported(f"{word!r} definitions (fragments?)")
        name = self.take()[1] if self.peek() not in ("(", "{", "@") else None
        if self.peek() == "(":
            self._skip_variable_definitions()
        if self.peek() == "@":
            raise Unsupported("directives")
        return Operation(word, name, self.selection_set())

    def _skip_variable_definitions(self) -> None:
        depth = 0
        while True:
            text = self.take()[1]
            depth += {"(": 1, ")": -1}.get(text, 0)
            if depth == 0:
                return

    def selection_set(self) -> list[Field]:
        self.take("{")
        fields = []
        while self.peek() != "}":
            if self.peek() == "...":
                raise Unsupported("fragments")
            fields.append(self.field())
        self.take("}")
        return fields

    def field(self) -> Field:
        kind, name = self.take()
        if kind != "name":
            raise Unsupported(f"expected a field name, found {name!r}")
        alias = None
        if self.peek() == ":":
            self.take(":")
            alias, name = name, self.take()[1]
        result = Field(name, alias)
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                argument = self.take()[1]
                self.take(":")
                result.args[argument] = self.value()
            self.take(")")
        if self.peek() == "@":
            raise Unsupported("directives")
        if self.peek() == "{":
            result.selections = self.selection_set()
        return result

    def value(self) -> Any:
        kind, text = self.take()
        if text == "$":
            return Var(self.take()[1])
        if kind == "string":
            return json.loads(text)  # GraphQL's string escapes are JSON's
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if text == "{":
            members = {}
            while self.peek() != "}":
                key = self.take()[1]
                self.take(":")
                members[key] = self.value()
            self.take("}")
            return members
        if kind == "name":
            return text  # an enum value
        raise Unsupported(f"unexpected {text!r} in an argument")


def resolve(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, Var):
        return variables.get(value.name)
    if isinstance(value, list):
        return [resolve(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, variables) for key, item in value.items()}
    return value
