"""The fake GitHub: a loopback server (server.py) over in-memory state, routes and renderers."""

from tests.fakes.github.server import FakeGitHub

__all__ = ["FakeGitHub"]
