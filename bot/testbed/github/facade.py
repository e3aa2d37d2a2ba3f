"""The `FakeGitHub` as its mixins and webhook builders see it, so they need not import it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from bot.testbed.github.git import BareRepo
from bot.testbed.github.rest_json.renderer import Renderer
from bot.testbed.github.state import HookDelivery, Repo, State


class Fake(Protocol):
    """The parts of `FakeGitHub` (server.py) that the modules below it act on."""

    lock: AbstractContextManager[Any]
    state: State
    html_url: str

    def renderer(self) -> Renderer: ...

    def repo(self, full_name: str) -> Repo: ...

    def git(self, full_name: str) -> BareRepo: ...

    def deliver(self, event: str, payload: dict[str, Any]) -> HookDelivery: ...

    async def adeliver(self, event: str, payload: dict[str, Any]) -> HookDelivery: ...
