"""Check HTTP requests against GitHub's REST OpenAPI description (routes, bodies, query)."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft4Validator

from bot.testbed import octokit

METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
# A trailing path parameter with one of these names may span several segments
# (`contents/{path}`, `git/refs/{ref}` with `heads/main` sent unencoded).
GREEDY_PARAMS = frozenset({"path", "ref", "branch"})
# Keywords of OpenAPI 3.0 schema objects that JSON Schema draft 4 does not know.
OAS_ONLY_KEYS = frozenset(
    {"nullable", "example", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs",
     "deprecated"}
)  # fmt: skip
SUBSCHEMA_LIST_KEYS = ("allOf", "anyOf", "oneOf")
MAX_ERRORS = 5
NOT_JSON = object()
"""Pass as `body` when the request carried bytes that do not parse as JSON."""


@dataclass(frozen=True)
class Operation:
    """One documented method + path template, with what a request to it must carry."""

    method: str
    template: str
    operation_id: str
    segments: tuple[str | None, ...]  # literal segment, or None for a parameter
    param_names: tuple[str, ...]
    path_param_types: Mapping[str, str]
    query_params: Mapping[str, Mapping[str, Any]]  # name -> schema
    required_query: frozenset[str]
    required_headers: frozenset[str]
    body_pointer: str | None  # JSON pointer to the application/json schema
    body_required: bool
    greedy: bool

    @property
    def specificity(self) -> tuple[bool, ...]:
        """Sort key: literal segments win over parameters, left to right."""
        return tuple(segment is None for segment in self.segments)


@dataclass
class CheckResult:
    """The verdict on one request: which operation it is and what is wrong with it."""

    operation_id: str | None
    template: str | None
    path_params: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    kind: str = "ok"  # ok | undocumented | bad_json | invalid


class OpenAPIChecker:
    """An index of GitHub's REST operations that validates requests quickly (cached validators)."""

    def __init__(self, spec: Mapping[str, Any], *, prefix: str = "") -> None:
        self.spec = spec
        self.prefix = prefix.rstrip("/")
        self.operations: dict[str, Operation] = {}
        self._by_method: dict[str, dict[int, list[Operation]]] = defaultdict(dict)
        self._greedy: dict[str, list[Operation]] = defaultdict(list)
        self._validators: dict[str, Draft4Validator] = {}
        self._converted: dict[str, Any] = {}
        self._converting: set[str] = set()
        self._compile_lock = threading.Lock()
        self._index()

    @classmethod
    def load(cls, path: Path | None = None, *, prefix: str = "") -> OpenAPIChecker:
        """Load the pinned description (fetched with npm on first use) and index it."""
        source = path or octokit.openapi_json()
        with source.open("rb") as handle:
            return cls(json.load(handle), prefix=prefix)

    # -- routing ---------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation for a percent-encoded URL path (prefix stripped), with decoded params."""
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            path = path[len(self.prefix) :] or "/"
        raw = [] if path in ("", "/") else path.strip("/").split("/")
        method = method.lower()
        for operation in self._by_method[method].get(len(raw), ()):
            params = self._bind(operation, raw)
            if params is not None:
                return operation, params
        for operation in self._greedy[method]:
            size = len(operation.segments)
            if len(raw) > size:
                params = self._bind(operation, [*raw[: size - 1], "/".join(raw[size - 1 :])])
                if params is not None:
                    return operation, params
        return None

    def _bind(self, operation: Operation, raw: list[str]) -> dict[str, str] | None:
        values: list[str] = []
        for literal, segment in zip(operation.segments, raw, strict=True):
            if literal is None:
                values.append(unquote(segment))
            elif literal != segment:
                return None
        params = dict(zip(operation.param_names, values, strict=True))
        for name, kind in operation.path_param_types.items():
            if kind == "integer" and not params.get(name, "").isdigit():
                return None
            if not params.get(name):
                return None
        return params

    # -- checking --------------------------------------------------------------------------

    def check(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: Any | None,
        headers: Mapping[str, str],
    ) -> CheckResult:
        """Return the matched operation and every way this request departs from the description.

        `path` is the URL path as sent (percent-encoded); `body` is the decoded JSON, None
        when there was none, or NOT_JSON.
        """
        found = self.match(method, path)
        where = f"{method.upper()} {path}"
        if found is None:
            return CheckResult(
                None, None, violations=[f"{where}: not a documented GitHub REST route"],
                kind="undocumented",
            )  # fmt: skip
        operation, params = found
        result = CheckResult(operation.operation_id, operation.template, params)
        problems = result.violations
        for name in sorted(operation.required_query - set(query)):
            problems.append(f"missing required query parameter {name!r}")
        for name, value in query.items():
            schema = operation.query_params.get(name)
            if schema is not None and not _query_value_ok(value, schema):
                problems.append(f"query parameter {name}={value[:60]!r} does not match {schema}")
        lowered = {key.lower() for key in headers}
        for name in sorted(operation.required_headers - lowered):
            problems.append(f"missing required header {name!r}")
        if body is NOT_JSON:
            problems.append("body is not valid JSON")
        elif body is None:
            if operation.body_required:
                problems.append("a JSON request body is required")
        elif operation.body_pointer is not None:
            validator = self._validator(operation.body_pointer)
            errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
            for error in errors[:MAX_ERRORS]:
                location = "".join(f"[{part!r}]" for part in error.path)
                problems.append(f"request body{location}: {error.message[:200]}")
        if problems:
            result.kind = "invalid"
            result.violations = [f"{where} ({operation.operation_id}): {p}" for p in problems]
        return result

    def check_response(self, operation_id: str, status: int, body: Any) -> list[str]:
        """Where a response body departs from the documented schema for that status (tests only)."""
        operation = self.operations[operation_id]
        responses = self._at(self._pointer(operation) + "/responses")
        key = str(status) if str(status) in responses else "default"
        if key not in responses:
            return [f"{operation_id}: status {status} is not documented"]
        response = self._deref(responses[key])
        if "application/json" not in response.get("content", {}):
            return [] if body in (None, b"", "") else [f"{operation_id}: {status} has no body"]
        pointer = f"{self._pointer(operation)}/responses/{key}/content/application~1json/schema"
        if "$ref" in responses[key]:
            ref = responses[key]["$ref"].removeprefix("#")
            pointer = f"{ref}/content/application~1json/schema"
        errors = sorted(self._validator(pointer).iter_errors(body), key=lambda e: list(e.path))
        return [
            f"{operation_id} {status}{''.join(f'[{p!r}]' for p in e.path)}: {e.message[:200]}"
            for e in errors[:MAX_ERRORS]
        ]

    def example(self, operation_id: str, status: int) -> Any:
        """The documented example response body (a deep copy is the caller's business)."""
        operation = self.operations[operation_id]
        response = self._deref(self._at(self._pointer(operation) + f"/responses/{status}"))
        examples = response["content"]["application/json"]["examples"]
        return self._deref(next(iter(examples.values())))["value"]

    # -- indexing --------------------------------------------------------------------------

    def _index(self) -> None:
        for template, item in self.spec["paths"].items():
            shared = item.get("parameters", [])
            for method in METHODS:
                if method in item:
                    self._add(template, method, item[method], shared)
        for sizes in self._by_method.values():
            for operations in sizes.values():
                operations.sort(key=lambda operation: operation.specificity)

    def _add(self, template: str, method: str, op: Mapping[str, Any], shared: list[Any]) -> None:
        parts = [] if template == "/" else template.strip("/").split("/")
        segments = tuple(None if _is_param(part) else part for part in parts)
        names = tuple(part[1:-1] for part in parts if _is_param(part))
        path_types: dict[str, str] = {}
        query: dict[str, Mapping[str, Any]] = {}
        required_query: set[str] = set()
        required_headers: set[str] = set()
        for parameter in [*shared, *op.get("parameters", [])]:
            parameter = self._deref(parameter)
            schema = parameter.get("schema", {})
            if parameter["in"] == "path":
                path_types[parameter["name"]] = schema.get("type", "string")
            elif parameter["in"] == "query":
                query[parameter["name"]] = schema
                if parameter.get("required"):
                    required_query.add(parameter["name"])
            elif parameter["in"] == "header" and parameter.get("required"):
                required_headers.add(parameter["name"].lower())
        body = op.get("requestBody")
        body_pointer = None
        body_required = False
        if body is not None:
            body = self._deref(body)
            body_required = bool(body.get("required"))
            if "application/json" in body.get("content", {}):
                where = f"/paths/{_escape(template)}/{method}/requestBody"
                body_pointer = f"{where}/content/application~1json/schema"
                if "$ref" in op["requestBody"]:
                    ref = op["requestBody"]["$ref"].removeprefix("#")
                    body_pointer = f"{ref}/content/application~1json/schema"
        operation = Operation(
            method=method,
            template=template,
            operation_id=op["operationId"],
            segments=segments,
            param_names=names,
            path_param_types=path_types,
            query_params=query,
            required_query=frozenset(required_query),
            required_headers=frozenset(required_headers),
            body_pointer=body_pointer,
            body_required=body_required,
            greedy=bool(names) and segments[-1] is None and names[-1] in GREEDY_PARAMS,
        )
        self.operations[operation.operation_id] = operation
        self._by_method[method].setdefault(len(segments), []).append(operation)
        if operation.greedy:
            self._greedy[method].append(operation)

    def _pointer(self, operation: Operation) -> str:
        return f"/paths/{_escape(operation.template)}/{operation.method}"

    def _at(self, pointer: str) -> Any:
        node: Any = self.spec
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _deref(self, node: Any) -> Any:
        while isinstance(node, Mapping) and "$ref" in node:
            node = self._at(node["$ref"].removeprefix("#"))
        return node

    # -- schemas ---------------------------------------------------------------------------

    def _validator(self, pointer: str) -> Draft4Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            # One session checker serves every fake; conversion state must not interleave.
            with self._compile_lock:
                validator = self._validators.get(pointer)
                if validator is None:
                    validator = Draft4Validator(self._convert(self._at(pointer)))
                    self._validators[pointer] = validator
        return validator

    def _convert(self, schema: Any) -> Any:
        """OpenAPI 3.0 schema -> self-contained JSON Schema draft 4 (refs inlined, nullable mapped).

        Converted components are shared, so inlining costs no copies; a recursive
        reference becomes `{}` at the point where it would loop.
        """
        if not isinstance(schema, Mapping):
            return schema
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in self._converted:
                return self._converted[ref]
            if ref in self._converting:
                return {}
            self._converting.add(ref)
            try:
                converted = self._convert(self._at(ref.removeprefix("#")))
            finally:
                self._converting.discard(ref)
            self._converted[ref] = converted
            return converted
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in OAS_ONLY_KEYS:
                continue
            if key == "properties":
                out[key] = {name: self._convert(sub) for name, sub in value.items()}
            elif key in SUBSCHEMA_LIST_KEYS:
                out[key] = [self._convert(sub) for sub in value]
            elif key in ("items", "not") or (
                key == "additionalProperties" and isinstance(value, Mapping)
            ):
                out[key] = self._convert(value)
            else:
                out[key] = value
        if schema.get("nullable"):
            if "type" in out and not any(k in out for k in SUBSCHEMA_LIST_KEYS):
                out["type"] = [out["type"], "null"]
                if "enum" in out:
                    out["enum"] = [*out["enum"], None]
            else:
                out = {"anyOf": [{"type": "null"}, out]}
        return out


def _is_param(part: str) -> bool:
    return part.startswith("{") and part.endswith("}")


def _escape(template: str) -> str:
    return template.replace("~", "~0").replace("/", "~1")


def _query_value_ok(value: str, schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "integer":
        return value.lstrip("-").isdigit()
    if kind == "boolean":
        return value in ("true", "false")
    if "enum" in schema and kind == "string":
        return value in schema["enum"]
    return True
