"""The setup pages in a real headless Chromium against a real `aios serve` (deployed mode).

One browser and one `aios serve` for the module. GitHub is the fake (its API answers the
manifest conversion) plus a stand-in for github.com's "new App from manifest" page; the
model server is the model fake. Screenshots go to $AIOS_TEST_ARTIFACTS (default: a pytest
temporary directory) and their paths are printed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aiohttp import web
from dotenv import dotenv_values
from playwright.sync_api import Browser, Page, sync_playwright

from bot.app.embedded_redis import free_port
from bot.testbed.github import FakeGitHub
from bot.testbed.github.openapi import OpenAPIChecker
from bot.testbed.github.state import AppIdentity
from bot.testbed.llm import ScriptedModel
from bot.testbed.llm_server import LoopbackLLM
from bot.testbed.loopback import LoopbackServer
from tests.serve_harness import AIOS, Serve, stop_serve, wait_for

MODEL_KEY = "sk-browser-good-key-0123456789"
WRONG_KEY = "sk-browser-wrong-key-9876543210"
SETUP_CODE = re.compile(r"aios: open (\S+)/setup and enter code ([A-Z0-9]{4}-[A-Z0-9]{4})")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STEP_TIMEOUT_MS = 15_000


class GitHubWeb:
    """github.com's "new App from manifest" page: shows the manifest's name, and its button
    sends the browser to the manifest's redirect URL with a code the API fake converts once."""

    def __init__(self, api: FakeGitHub) -> None:
        self.api = api
        self.manifests: list[dict[str, object]] = []
        app = web.Application()
        app.router.add_post("/settings/apps/new", self._new_app)
        self.server = LoopbackServer(app)

    async def _new_app(self, request: web.Request) -> web.Response:
        form = await request.post()
        manifest = json.loads(str(form["manifest"]))
        self.manifests.append(manifest)
        code = secrets.token_hex(20)
        self.api.add_manifest_code(code, {"name": manifest["name"]})
        query = urlencode({"code": code, "state": request.query["state"]})
        back = f"{manifest['redirect_url']}?{query}"
        return web.Response(
            content_type="text/html",
            text=f"<h1>Create GitHub App {manifest['name']}</h1>"
            f"<a id='create' href='{back}'>Create GitHub App</a>",
        )


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("AIOS_TEST_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # The system chromium: nothing is downloaded.
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def world(
    openapi_checker: OpenAPIChecker,
    github_app_identity: AppIdentity,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Serve, FakeGitHub, GitHubWeb, LoopbackLLM]]:
    """A deployed-mode `aios serve` with no App and no model yet, and the fakes it talks to."""
    workdir = tmp_path_factory.mktemp("deployed")
    github = FakeGitHub(openapi_checker, app=github_app_identity)
    github.start()
    github_web = GitHubWeb(github)
    github_web.server.start()
    llm = LoopbackLLM(ScriptedModel(api_key=MODEL_KEY, models=["qwen3", "llama3.1"]))
    llm.__enter__()
    port = free_port()
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIOS_", "ANTHROPIC_", "OPENAI_", "GITHUB_"))
        and k not in ("REDIS_URL", "APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "LOG_FORMAT")
    }
    environ.update(
        {
            "AIOS_ENV": "production",
            "AIOS_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "AIOS_DATA_DIR": str(workdir / "data"),
            "GITHUB_API_URL": github.url,
            "GITHUB_GIT_URL": github_web.server.origin,
            "LOG_FORMAT": "console",
        }
    )
    log = workdir / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [AIOS, "serve", "--port", str(port), "--workers", "1"],
            env=environ,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    serve = Serve(process, port, workdir / "data", log)
    try:
        serve.wait_ready(workers=True)
        yield serve, github, github_web, llm
    finally:
        stop_serve(serve)
        llm.__exit__()
        github_web.server.stop()
        github.stop()


def shoot(page: Page, artifacts: Path, name: str) -> Path:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def test_register_choose_a_model_and_see_the_status_in_a_browser(
    browser: Browser,
    world: tuple[Serve, FakeGitHub, GitHubWeb, LoopbackLLM],
    artifacts: Path,
) -> None:
    serve, github, github_web, llm = world
    wait_for(lambda: SETUP_CODE.search(serve.log.read_text()), "the setup code in the log")
    match = SETUP_CODE.search(serve.log.read_text())
    assert match is not None
    assert match.group(1) == serve.url
    code = match.group(2)
    page = browser.new_page(viewport={"width": 900, "height": 900})
    page.set_default_timeout(STEP_TIMEOUT_MS)
    shots = []

    # Deployed and unregistered: nothing without the code from the log.
    refused = page.goto(serve.url + "/setup")
    assert refused is not None and refused.status == 403
    page.fill("input[name=code]", "AAAA-BBBB")
    page.click("button[type=submit]")
    assert "not this server's setup code" in page.inner_text("main")
    shots.append(shoot(page, artifacts, "01-setup-code-refused"))
    page.fill("input[name=code]", code)
    page.click("button[type=submit]")

    # Register: the manifest goes to "GitHub", which sends the browser back with a code.
    assert page.title() == "AIOS · Register the GitHub App"
    shots.append(shoot(page, artifacts, "02-register"))
    page.click("text=Register GitHub App")
    [manifest] = github_web.manifests
    assert manifest["redirect_url"] == f"{serve.url}/setup/callback"
    page.click("#create")
    page.wait_for_url(serve.url + "/setup/model")
    assert f"(App ID {github.app_id}) is registered" in page.inner_text("main")

    # The model step: a refused key keeps the form and writes nothing.
    page.check("input[value=openai]")
    page.fill("input[name=api_key]", WRONG_KEY)
    page.fill("input[name=base_url]", f"{llm.url}/v1")
    page.fill("input[name=model]", "qwen3")
    page.click("text=Check and save")
    assert page.inner_text("#error") == "Not saved: the key was refused."
    assert page.input_value("input[name=model]") == "qwen3"
    assert page.input_value("input[name=api_key]") == ""
    shots.append(shoot(page, artifacts, "03-model-step-refused"))
    assert "OPENAI_API_KEY" not in (serve.log.parent / ".env").read_text()
    page.fill("input[name=api_key]", MODEL_KEY)
    page.click("text=Check and save")

    # Done: the install link, where the secrets went, what to do next.
    page.wait_for_url(serve.url + "/setup/done")
    install = page.get_attribute("#install", "href")
    assert install == f"https://github.com/apps/{github.slug}/installations/new"
    env_path = serve.log.parent / ".env"
    done = page.inner_text("main")
    assert str(env_path.resolve()) in done
    assert "label aios" in done
    shots.append(shoot(page, artifacts, "04-done"))

    # The status page.
    page.goto(serve.url + "/")
    assert github.slug in page.inner_text("#app")
    assert page.inner_text("#webhook") == f"{serve.url}/webhook"
    assert page.inner_text("#model").startswith(f"openai at {llm.url}/v1")
    assert page.inner_text("#workers") == "2 alive"
    shots.append(shoot(page, artifacts, "05-status"))
    page.goto(serve.url + "/setup")
    assert f"Registered as {github.slug}" in page.inner_text("main")

    saved = dotenv_values(env_path)
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    assert saved["APP_ID"] == str(github.app_id)
    assert saved["OPENAI_API_KEY"] == MODEL_KEY
    assert saved["AIOS_LLM_PROVIDER"] == "openai"
    log_text = serve.log.read_text()
    for secret in (github.webhook_secret, MODEL_KEY, WRONG_KEY, github.app.client_secret):
        assert secret not in log_text
    assert len(github.calls("POST", r"/app-manifests/[^/]+/conversions")) == 1
    assert github.violations == []
    assert all(shot.stat().st_size > 0 for shot in shots)
    page.close()
