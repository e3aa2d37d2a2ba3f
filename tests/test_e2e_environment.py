"""A repository's environment end to end, with real `aios serve` processes, Redis, git, the
bwrap sandbox and its egress proxy: `.github/aios.yml` sets the project up from a loopback
package index (an allowed host:port), the coder's `finish` runs the tests, and the verdict
reaches the handoff note, the progress comment and the pull request; a second job on the
same lock file restores the cache instead of installing again; a host outside the
allowlist is refused and reported; no secret of AIOS is readable from setup or run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app.embedded_redis import free_port
from bot.testbed.github import FakeGitHub
from bot.testbed.llm import ScriptedModel
from bot.testbed.package_index import PackageIndex, build_wheel
from bot.testbed.turns import Turn, call, finish, qa_pass
from tests.serve_harness import LLM_KEY, REPO, wait_for

DUMP_ENV = "(env; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n') > {name} || true"
"""What a command in the sandbox can read of environments: its own and every process's."""


@pytest.fixture
def index(tmp_path: Path) -> Iterator[PackageIndex]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(
        wheels, "tinyhelper", "1.0", {"tinyhelper.py": "def double(x):\n    return 2 * x\n"}
    )
    with PackageIndex(wheels) as served:
        yield served


CALC = "from tinyhelper import double\n\n\ndef quadruple(x):\n    return double(double(x))\n"


def project(index: PackageIndex) -> dict[str, str]:
    config = {
        "environment": {
            "setup": [
                "python3 -m venv .venv",
                f".venv/bin/pip install --no-cache-dir --index-url {index.url} -r requirements.txt",
                DUMP_ENV.format(name="setup-env.txt"),
            ],
            "test": ".venv/bin/python -m unittest -v",
            "allow_hosts": [index.host_port],
            "network_during_run": True,
            "cache": [".venv"],
        }
    }
    return {
        ".github/aios.yml": json.dumps(config, indent=2) + "\n",
        "requirements.txt": "tinyhelper==1.0\n",
        "calc.py": CALC,
        "test_calc.py": (
            "import unittest\n\nfrom calc import quadruple\n\n\n"
            "class Quadruple(unittest.TestCase):\n"
            "    def test_quadruple(self):\n        self.assertEqual(quadruple(2), 8)\n"
        ),
    }


def test_setup_from_a_loopback_index_tests_gate_the_finish_and_the_verdict_is_shown(
    github_fake: FakeGitHub,
    start_serve: Any,
    scripted_model: ScriptedModel,
    index: PackageIndex,
    tmp_path: Path,
) -> None:
    refused_port = free_port()
    github_fake.push_as("alice", REPO, "main", project(index))
    probe = (
        'python3 -c "import urllib.request as u; '
        f"u.urlopen('http://127.0.0.1:{refused_port}/', timeout=5)\""
    )
    scripted_model.script += [
        Turn("Is anything else reachable?", [call("run", command=probe)]),
        Turn("What can I read?", [call("run", command=DUMP_ENV.format(name="run-env.txt"))]),
        Turn(
            "Adding triple().",
            [
                call(
                    "write_file",
                    path="calc.py",
                    content=CALC + "\n\ndef triple(x):\n    return 3 * x\n",
                ),
                call(
                    "write_file",
                    path="test_triple.py",
                    content=(
                        "import unittest\n\nfrom calc import triple\n\n\n"
                        "class Triple(unittest.TestCase):\n"
                        "    def test_triple(self):\n        self.assertEqual(triple(2), 6)\n"
                    ),
                ),
            ],
        ),
        finish("Backend: triple() with its test."),
        qa_pass(),
    ]
    serve = start_serve(workers=1, env={"AIOS_EGRESS_CEILING": index.host_port})
    github_fake.webhook_url = f"{serve.url}/webhook"
    issue = github_fake.add_issue(REPO, "Add triple()", "We need triple(x).")
    github_fake.label_issue_as("alice", REPO, issue.number, "aios:backend")

    wait_for(lambda: github_fake.pulls(REPO), "the pull request", timeout=120)
    wait_for(
        lambda: any(run.status == "completed" for run in github_fake.check_runs(REPO)),
        "the QA review done and the check run completed",
        timeout=120,
    )
    (pr,) = github_fake.pulls(REPO)
    marker = f"<!-- aios:progress item={REPO}#{issue.number} -->"
    (comment,) = [c for c in github_fake.comments(REPO, issue.number) if c.body.startswith(marker)]

    verdict = "tests: 2 passed"
    assert "🧰 **Environment:** from `.github/aios.yml`" in comment.body
    assert f"✅ {verdict}" in comment.body
    assert f"**Bea:** Backend: triple() with its test. {verdict}" in comment.body  # the handoff
    assert f"**Tests** (as AIOS last ran them): ✅ {verdict}" in pr.issue.body
    assert f"🚫 blocked: 127.0.0.1:{refused_port}" in comment.body

    # The setup's output is kept in the job's transcript, trimmed.
    transcripts = "".join(f.read_text() for f in (serve.data_dir / "transcripts").glob("*.jsonl"))
    assert '"event": "setup_command"' in transcripts and "Successfully installed" in transcripts

    # Set up once: the QA job's workspace got the venv from the cache, not from the index.
    assert index.file_requests() == 1
    git = github_fake.git(REPO)
    assert git.read(pr.head, ".venv/bin/python") is None  # the environment is never committed
    # GITHUB_API_URL is no secret, but only AIOS's own processes have it: reading it would
    # mean reading their environment.
    secrets = [LLM_KEY, github_fake.webhook_secret, "PRIVATE KEY", "GITHUB_API_URL"]
    for dump in ("setup-env.txt", "run-env.txt"):
        text = (git.read(pr.head, dump) or b"").decode()
        assert "AIOS_SANDBOX=isolated" in text, dump  # it is the sandbox's environment, read
        assert not [s for s in secrets if s in text], dump
