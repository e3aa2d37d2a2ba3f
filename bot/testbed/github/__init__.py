"""The fake GitHub: a loopback server (server.py) over in-memory state, routes and renderers."""

from bot.testbed.github.server import FakeGitHub

__all__ = ["FakeGitHub"]
