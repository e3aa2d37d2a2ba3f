"""What a work item's environment will be: the repository's keys, detection for the rest, and
the operator's egress rules over both."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.environment.plan import REGISTRIES, Egress, resolve
from bot.settings import SettingsError
from bot.workitem.parts import EnvironmentSettings
from bot.workitem.plan import ProposedEnvironment


def python_project(root: Path) -> Path:
    (root / "requirements.txt").write_text("requests\n")
    (root / "tests").mkdir(exist_ok=True)
    return root


def test_nothing_configured_uses_the_detected_project(tmp_path: Path) -> None:
    plan = resolve(EnvironmentSettings(), python_project(tmp_path), Egress())
    assert plan.setup[0] == "python3 -m venv .venv"
    assert plan.test == ".venv/bin/python -m unittest discover -s tests"
    assert plan.cache == (".venv",)
    assert plan.lock_files == ("requirements.txt",)
    assert plan.setup_hosts == REGISTRIES and plan.run_hosts == ()
    assert plan.chosen.startswith("detected Python (requirements.txt)")


def test_each_configured_key_wins_and_the_rest_is_detected(tmp_path: Path) -> None:
    settings = EnvironmentSettings(test="make check", network_during_run=True)
    plan = resolve(settings, python_project(tmp_path), Egress())
    assert plan.test == "make check"
    assert plan.setup[0] == "python3 -m venv .venv"  # still the detected setup
    assert plan.run_hosts == REGISTRIES
    assert "`make check`" in plan.chosen
    assert "the detected Python project (requirements.txt)" in plan.chosen


def test_nothing_to_detect_and_nothing_configured_says_so(tmp_path: Path) -> None:
    plan = resolve(EnvironmentSettings(), tmp_path, Egress())
    assert plan.empty and plan.setup_hosts == ()
    assert "nothing detected" in plan.chosen and "environment.test" in plan.chosen


def test_a_repository_adds_hosts_only_within_the_operators_ceiling(tmp_path: Path) -> None:
    wanted = ("pypi.org", "127.0.0.1:8080", "evil.example")
    settings = EnvironmentSettings(setup=("make deps",), allow_hosts=wanted)
    narrow = resolve(settings, tmp_path, Egress())
    assert narrow.setup_hosts == ("pypi.org",)
    assert narrow.left_out == ("127.0.0.1:8080", "evil.example")

    ceiling = Egress.from_env({"AIOS_EGRESS_CEILING": "pypi.org,127.0.0.1:8080"})
    assert resolve(settings, tmp_path, ceiling).setup_hosts == ("pypi.org", "127.0.0.1:8080")
    anything = Egress.from_env({"AIOS_EGRESS_CEILING": "*"})
    assert resolve(settings, tmp_path, anything).setup_hosts == wanted


def test_the_operator_narrows_the_default(tmp_path: Path) -> None:
    egress = Egress.from_env({"AIOS_EGRESS_ALLOW": "pypi.org, files.pythonhosted.org"})
    plan = resolve(EnvironmentSettings(), python_project(tmp_path), egress)
    assert plan.setup_hosts == ("pypi.org", "files.pythonhosted.org")
    wider = EnvironmentSettings(allow_hosts=("registry.npmjs.org",))
    assert resolve(wider, python_project(tmp_path), egress).left_out == ("registry.npmjs.org",)


@pytest.mark.parametrize("variable", ["AIOS_EGRESS_ALLOW", "AIOS_EGRESS_CEILING"])
def test_a_malformed_operator_list_names_its_variable(variable: str) -> None:
    with pytest.raises(SettingsError, match=variable) as raised:
        Egress.from_env({variable: "pypi.org, https://evil.example/x"})
    assert "https://evil.example/x" in str(raised.value)


def test_an_approved_proposal_fills_only_what_the_repository_left_out(tmp_path: Path) -> None:
    proposal = ProposedEnvironment(setup=("make deps",), test="make test")
    settings = EnvironmentSettings(test="pytest -q")
    plan = resolve(
        settings, python_project(tmp_path), Egress(), approved=proposal, approved_by="alice"
    )
    assert plan.setup == ("make deps",)  # before the detected venv
    assert plan.test == "pytest -q"  # the repository's own setting wins
    assert plan.chosen.startswith("proposed in the plan, approved by @alice: `make deps`")
    assert resolve(settings, python_project(tmp_path), Egress()).setup[0] == "python3 -m venv .venv"
