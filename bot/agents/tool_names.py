"""The names of the agents' tools, apart from their code: the roster checks roles against
them, and the renderers that load the roster need none of the tool (or LLM) modules."""

from __future__ import annotations

ALL_TOOLS = ("list_files", "read_file", "search", "write_file", "edit_file", "run", "finish")
