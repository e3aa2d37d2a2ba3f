"""GitHub's GraphQL endpoint in the fake: markPullRequestReadyForReview; loud errors otherwise."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.github_json import node_id
from tests.fakes.github_state import PullRequest, Repo, State, iso

DOCS = "https://docs.github.com/graphql"
MUTATION = "markPullRequestReadyForReview"
TOKEN = re.compile(
    r"""(?P<skip>[\s,\ufeff]+|\#[^\n]*)
      |(?P<spread>\.\.\.)
      |(?P<punct>[!$():=@\[\]{}|])
      |(?P<string>"(?:[^"\\\n]|\\.)*")
      |(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      |(?P<name>[_A-Za-z][_0-9A-Za-z]*)""",
    re.VERBOSE,
)


# The fields the fake can answer: None for a leaf, else the fields of the object below.
PULL_FIELDS: dict[str, Any] = dict.fromkeys(
    ("__typename", "id", "number", "isDraft", "title", "state", "url")
)
PAYLOAD_FIELDS: dict[str, Any] = {
    "__typename": None,
    "clientMutationId": None,
    "pullRequest": PULL_FIELDS,
}


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


@dataclass
class Answer:
    body: dict[str, Any]
    unsupported: str | None = None  # what the fake lacks, for a violation


def execute(state: State, body: Any, visible: list[str], *, html: str) -> Answer:
    """Run one GraphQL request for a token that sees the repositories `visible`."""
    try:
        return _execute(state, body, visible, html)
    except Unsupported as exc:
        return Answer(
            {"errors": [{"message": f"fake does not implement GraphQL: {exc}"}]}, str(exc)
        )


def _execute(state: State, body: Any, visible: list[str], html: str) -> Answer:
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise Unsupported("a request without a `query` string")
    variables = body.get("variables") or {}
    operations = Parser(body["query"]).document()
    wanted = body.get("operationName")
    chosen = [op for op in operations if wanted is None or op.name == wanted]
    if len(chosen) != 1:
        raise Unsupported(f"{len(chosen)} operations to choose from (operationName={wanted!r})")
    operation = chosen[0]
    names = [f.name for f in operation.selections]
    if operation.kind != "mutation" or names != [MUTATION]:
        raise Unsupported(f"{operation.kind} {{{' '.join(names)}}}")
    root = operation.selections[0]
    _validate(root.selections, PAYLOAD_FIELDS, "MarkPullRequestReadyForReviewPayload")
    given = resolve(root.args.get("input"), variables)
    if not isinstance(given, dict) or not isinstance(given.get("pullRequestId"), str):
        raise Unsupported(f"{MUTATION} without input.pullRequestId")
    found = _find(state, given["pullRequestId"], visible)
    if found is None:
        error = {
            "type": "NOT_FOUND",
            "path": [root.key],
            "locations": [{"line": 1, "column": 1}],
            "message": f"Could not resolve to a node with the global id of "
            f"'{given['pullRequestId']}'",
        }
        return Answer({"data": {root.key: None}, "errors": [error]})
    repo, pr = found
    pr.draft = False
    pr.issue.updated_at = iso()
    payload = {
        "__typename": "MarkPullRequestReadyForReviewPayload",
        "clientMutationId": given.get("clientMutationId"),
    }
    data = _select(root.selections, {**payload, "pullRequest": _pull_fields(repo, pr, html)})
    return Answer({"data": {root.key: data}})


def _find(state: State, ident: str, visible: list[str]) -> tuple[Repo, PullRequest] | None:
    for name in visible:
        repo = state.repo(name)
        for pr in repo.pulls.values() if repo else ():
            if node_id("PullRequest", pr.id) == ident:
                assert repo is not None
                return repo, pr
    return None


def _pull_fields(repo: Repo, pr: PullRequest, html: str) -> dict[str, Any]:
    state = "MERGED" if pr.merged_at else pr.state.upper()
    return {
        "__typename": "PullRequest",
        "id": node_id("PullRequest", pr.id),
        "number": pr.number,
        "isDraft": pr.draft,
        "title": pr.title,
        "state": state,
        "url": f"{html}/{repo.full_name}/pull/{pr.number}",
    }


def _validate(fields: list[Field], known: dict[str, Any], where: str) -> None:
    """Refuse selections the fake cannot answer before anything runs, as GraphQL validates."""
    for item in fields:
        if item.name not in known:
            raise Unsupported(f"{where}.{item.name}")
        nested = known[item.name]
        if bool(item.selections) != (nested is not None):
            raise Unsupported(f"{where}.{item.name} with{'out' if nested else ''} a selection")
        if nested is not None:
            _validate(item.selections, nested, "PullRequest")


def _select(fields: list[Field], values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in fields:
        value = values[item.name]
        out[item.key] = _select(item.selections, value) if item.selections else value
    return out
