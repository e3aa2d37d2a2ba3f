"""probe(): one models listing against the loopback model fake, over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bot.agents.llm.probe import KEY_REFUSED, probe
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM

KEY = "sk-probe-good-key-0123456789"
WRONG = "sk-probe-wrong-key-9876543210"


@pytest.fixture(scope="module")
def model() -> ScriptedModel:
    return ScriptedModel(api_key=KEY, models=["claude-haiku-5-5", "llama3.1", "qwen3"])


@pytest.fixture(scope="module")
def llm(model: ScriptedModel) -> Iterator[LoopbackLLM]:
    with LoopbackLLM(model) as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:  # nothing listens on it once closed
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("provider", "base", "api"),
    [("anthropic", "", "anthropic"), ("openai", "/v1", "openai")],
)
async def test_a_good_key_lists_the_models_in_one_request(
    llm: LoopbackLLM, model: ScriptedModel, provider: str, base: str, api: str
) -> None:
    before = len(model.listings)

    result = await probe(provider, api_key=KEY, base_url=llm.url + base)

    assert result.ok, result.error
    assert result.models == ("claude-haiku-5-5", "llama3.1", "qwen3")
    assert result.error is None
    assert model.listings[before:] == [api]
    assert model.requests == []  # no model turn was spent


@pytest.mark.parametrize(("provider", "base"), [("anthropic", ""), ("openai", "/v1")])
async def test_a_refused_key_says_so_without_the_key(
    llm: LoopbackLLM, provider: str, base: str
) -> None:
    result = await probe(provider, api_key=WRONG, base_url=llm.url + base)

    assert not result.ok
    assert result.error == KEY_REFUSED
    assert WRONG not in repr(result)


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_a_closed_port_is_cannot_reach(provider: str) -> None:
    base = f"http://127.0.0.1:{closed_port()}"

    result = await probe(provider, api_key=KEY, base_url=base)

    assert not result.ok
    assert result.error == f"cannot reach {base}"
    assert KEY not in repr(result)


async def test_a_base_url_without_a_models_route_names_the_base(llm: LoopbackLLM) -> None:
    result = await probe("openai", api_key=KEY, base_url=llm.url + "/v1/nothing-here")

    assert not result.ok
    assert result.error is not None
    assert "check the base URL" in result.error
    assert result.error.startswith(llm.url)


async def test_an_unknown_provider_is_refused_in_one_line() -> None:
    result = await probe("gemini", api_key=KEY, base_url=None)

    assert not result.ok
    assert result.error == "unknown provider 'gemini': use anthropic or openai"
