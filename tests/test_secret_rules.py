"""gitleaks' rule set as AIOS reads it: every rule translated, real credential shapes found."""

from __future__ import annotations

import secrets
import string
import tomllib

import pytest
import re2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.redact import MASK, find_secrets, redact, secret_file_rule
from bot.secret_rules import EXCLUDED, GITLEAKS_VERSION, RULES_FILE, rule_set, shannon_entropy

ALNUM = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9l"
    "IiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def test_the_vendored_file_names_its_source_and_version() -> None:
    header = RULES_FILE.read_text().split("\n\n", 1)[0]
    assert f"config/gitleaks.toml at tag v{GITLEAKS_VERSION}" in header
    assert "MIT License" in RULES_FILE.read_text()[:3000]


def test_every_gitleaks_rule_is_used_or_excluded_with_a_reason() -> None:
    data = tomllib.loads(RULES_FILE.read_text())
    ids = {rule["id"] for rule in data["rules"]}
    loaded = {r.id for r in rule_set().rules} | {name for name, _ in rule_set().path_rules}
    assert ids - loaded == set(EXCLUDED)
    assert len(ids) > 200
    assert all(len(reason) > 40 for reason in EXCLUDED.values())


def test_every_expression_compiles_as_re2_runs_it() -> None:
    data = tomllib.loads(RULES_FILE.read_text())
    expressions = [r[k] for r in data["rules"] for k in ("regex", "path") if k in r]
    allow = [
        x for r in data["rules"] for a in r.get("allowlists", []) for x in a.get("regexes", [])
    ]
    for expression in [*expressions, *allow]:
        re2.compile(expression)  # gitleaks' own syntax: `(?i)` mid-pattern, `\z`, [[:alnum:]]


@pytest.mark.parametrize(
    ("rule", "secret"),
    [
        ("aws-access-token", "AKIA" + rand(16, string.ascii_uppercase + "234567")),
        ("anthropic-api-key", f"sk-ant-api03-{rand(93)}AA"),
        ("openai-api-key", f"sk-proj-{rand(74)}T3BlbkFJ{rand(74)}"),
        ("github-pat", f"ghp_{rand(36)}"),
        ("github-app-token", f"ghs_{rand(36)}"),
        ("github-fine-grained-pat", f"github_pat_{rand(82)}"),
        ("jwt", JWT),
        ("slack-bot-token", f"xoxb-{rand(11, string.digits)}-{rand(12, string.digits)}-{rand(24)}"),
        ("stripe-access-token", f"sk_live_{rand(24)}"),
    ],
)
def test_a_maintained_rule_finds_each_credential_shape(rule: str, secret: str) -> None:
    text = f'config = {{"value": "{secret}"}}\n'
    found = {f.rule for f in find_secrets(text, path="settings.py")}
    assert rule in found, found
    assert secret not in redact(text)


def test_a_private_key_is_found_in_a_file_and_masked_in_prose() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    assert "private-key" in {f.rule for f in find_secrets(pem, path="deploy/key.pem")}
    body = pem.splitlines()[1]
    assert body not in redact(f"here it is:\n{pem}")


def test_jwts_are_masked_in_comments_and_messages() -> None:
    out = redact(f"Call it with `Authorization-less` token {JWT} please")
    assert JWT not in out and MASK in out and out.endswith(" please")


def test_file_rules_and_prose_rules_apply_where_they_belong() -> None:
    assert secret_file_rule("certs/client.p12") == "pkcs12-file"
    assert secret_file_rule("src/app.py") is None
    code = "    authorization: str | None = None\n"
    assert find_secrets(code, path="bot/client.py") == []  # ordinary code is not a header
    assert {f.rule for f in find_secrets("Authorization: token abcdefgh1234")} >= {
        "aios:authorization-header"
    }


def test_gitleaks_allowlists_and_entropy_floor_hold() -> None:
    example = {f.rule for f in find_secrets("key = AKIAIOSFODNN7EXAMPLE", path="a.py")}
    assert "aws-access-token" not in example  # gitleaks allows AWS's documented example
    low = "ghp_" + "a" * 36
    assert "github-pat" not in {f.rule for f in find_secrets(low, path="a.py")}
    assert shannon_entropy("aaaa") == 0.0 and round(shannon_entropy("ab"), 3) == 1.0


def test_aios_own_shapes_mask_even_fake_looking_tokens() -> None:
    # gitleaks' entropy floor lets `ghs_aaaa…` pass as a placeholder; what AIOS writes still
    # never shows a token shape, real or not.
    assert redact("token ghs_" + "a" * 36) == f"token {MASK}"
    assert redact("key sk-ant-" + "x" * 20) == f"key {MASK}"


def test_ordinary_code_and_prose_yield_nothing() -> None:
    text = (
        "def token_for(repo: str) -> str:\n"
        '    """Mint the installation token; see docs/secrets.md for the key rotation."""\n'
        "    api_key = settings.anthropic_api_key\n"
        "    return cache.get(f'{repo}:token') or mint(repo, key=api_key)\n"
        "Commit 3f786850e387550fdab836ed7e6dc881de23001b fixes the eye-catching keyboard layout.\n"
    )
    assert find_secrets(text, path="bot/tokens.py") == []
    assert redact(text) == text
