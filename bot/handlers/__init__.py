"""Event handlers, one module per event family, composed into one router here."""

from __future__ import annotations

from gidgethub.routing import Router

from bot.handlers import center, comments, installation, issues, pulls


def build_router() -> Router:
    """The one router the web process asks "is this wanted?" and workers dispatch through."""
    return Router(installation.router, issues.router, comments.router, pulls.router, center.router)
