"""The setup pages' HTML: templates from bot/app/templates, values escaped here."""

from __future__ import annotations

import html
from importlib import resources
from string import Template

from aiohttp import web

TEMPLATES = (
    "layout",
    "start",
    "no_public_url",
    "done",
    "code",
    "model",
    "registered",
    "status",
)


class Pages:
    """Renders a named template into the common layout as a no-store HTML response."""

    def __init__(self) -> None:
        folder = resources.files("bot.app.templates")
        self._templates = {
            name: Template(folder.joinpath(f"setup_{name}.html").read_text()) for name in TEMPLATES
        }

    def body(self, template: str, /, **values: str) -> str:
        """`template` filled with `values`, which the caller has escaped (see `e`)."""
        return self._templates[template].substitute(values)

    def page(
        self, status: int, title: str, body: str, *, headers: dict[str, str] | None = None
    ) -> web.Response:
        text = self._templates["layout"].substitute(title=e(title), body=body)
        # no-referrer: the callback URL carries the one-time code; links out must not leak it.
        sent = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", **(headers or {})}
        return web.Response(status=status, text=text, content_type="text/html", headers=sent)


def e(text: str) -> str:
    """HTML-escaped, quotes included: every value reaches a template through this."""
    return html.escape(text, quote=True)
