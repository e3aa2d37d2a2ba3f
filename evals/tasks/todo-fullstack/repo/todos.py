"""The todo list's API: the JSON that GET /todos answers with."""

import json


def todos_payload(todos: list[dict]) -> str:
    """GET /todos: `{"todos": [{"title": ...}, ...]}` for the stored todos, in order."""
    return json.dumps({"todos": [{"title": todo["title"]} for todo in todos]})
