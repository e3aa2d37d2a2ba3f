"""The scripted model's turns for a task, read from a small YAML form of `Turn`/`call`/`finish`.

- say: "Fixing the slug."             # narration, with tool calls
  calls: [{tool: write_file, path: slug.py, content: "..."}]
- finish: "Fixed the slug."           # an agent's finish; a mapping is sent as JSON
- finish: {questions: ["Which one?"]}
- qa_pass: "Nothing blocking."        # the QA agent's passing review
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from bot.testbed.turns import Turn, call, finish, qa_pass

TURN_KEYS = {"say", "calls", "finish", "qa_pass"}


class ScriptError(ValueError):
    """A script that cannot be read: `str()` names the file and the turn."""


def load_script(path: Path) -> list[Turn]:
    """The turns in `path`, in order.

    Raises:
        ScriptError: naming the file and the turn that is wrong.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScriptError(f"{path}: cannot be read as YAML ({exc})") from None
    if not isinstance(raw, list) or not raw:
        raise ScriptError(f"{path}: must be a non-empty list of turns")
    return [_turn(path, index, entry) for index, entry in enumerate(raw, start=1)]


def _turn(path: Path, index: int, entry: Any) -> Turn:
    where = f"{path}: turn {index}"
    if not isinstance(entry, dict):
        raise ScriptError(f"{where}: must be a mapping with say/calls, finish or qa_pass")
    unknown = sorted(set(entry) - TURN_KEYS)
    if unknown:
        raise ScriptError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kinds = [k for k in ("finish", "qa_pass") if k in entry]
    if len(kinds) > 1 or (kinds and ("say" in entry or "calls" in entry)):
        raise ScriptError(f"{where}: a turn is one of say/calls, finish or qa_pass")
    if "finish" in entry:
        summary = entry["finish"]
        if isinstance(summary, (dict, list)):
            return finish(json.dumps(summary))
        if not isinstance(summary, str):
            raise ScriptError(f"{where}: finish must be text or a mapping (sent as JSON)")
        return finish(summary)
    if "qa_pass" in entry:
        verdict = entry["qa_pass"]
        return qa_pass(verdict) if isinstance(verdict, str) else qa_pass()
    text = entry.get("say", "")
    if not isinstance(text, str):
        raise ScriptError(f"{where}: say must be text")
    calls = entry.get("calls", [])
    if not isinstance(calls, list) or not calls:
        raise ScriptError(f"{where}: calls must be a non-empty list of {{tool: NAME, ...}}")
    return Turn(text, [_call(where, number, c) for number, c in enumerate(calls, start=1)])


def _call(where: str, number: int, raw: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(raw, dict) or not isinstance(raw.get("tool"), str):
        raise ScriptError(f"{where}: call {number} must be a mapping with a `tool` name")
    arguments = {k: v for k, v in raw.items() if k != "tool"}
    return call(raw["tool"], **arguments)
