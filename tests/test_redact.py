"""Redaction masks every secret shape AIOS may meet, and leaves ordinary text alone."""

from __future__ import annotations

import pytest

from bot.redact import MASK, redact

GH_SUFFIX = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx1c2V5\nbGl2ZXJ5IGJveQ==\n"
    "-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    "secret",
    [
        f"ghs_{GH_SUFFIX}",
        f"ghp_{GH_SUFFIX}",
        f"gho_{GH_SUFFIX}",
        f"ghu_{GH_SUFFIX}",
        f"ghr_{GH_SUFFIX}",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789-ABCDEFG",
        "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
        "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_token_shapes_are_masked_inside_text(secret: str) -> None:
    text = f"token={secret} and more"
    out = redact(text)
    assert secret not in out
    assert MASK in out
    assert out.endswith(" and more")


def test_pem_private_key_is_masked_whole_and_when_cut_off() -> None:
    out = redact(f"key:\n{PEM}\nafter")
    assert "MIIEowIBAAKCAQEAx1c2V5" not in out and "bGl2ZXJ5" not in out
    assert out.startswith("key:\n-----BEGIN RSA PRIVATE KEY-----") and out.endswith("after")
    truncated = PEM.split("-----END")[0]
    assert "MIIEowIBAAKCAQEAx1c2V5" not in redact(truncated)


def test_authorization_headers_and_url_credentials_are_masked() -> None:
    text = (
        "GET / HTTP/1.1\nAuthorization: Bearer abc.def.ghi-jkl\n"
        "x-api-key: plainsecretvalue\n"
        "https://x-access-token:s3cr3tvalue@github.com/o/r.git\n"
        "AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA=="
    )
    out = redact(text)
    for leaked in ("abc.def.ghi-jkl", "plainsecretvalue", "s3cr3tvalue", "eC1hY2Nlc3MtdG9rZW46"):
        assert leaked not in out
    assert "github.com/o/r.git" in out


def test_aws_secret_access_key_assignment_is_masked() -> None:
    out = redact("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert "wJalrXUtnFEMI" not in out


def test_explicit_secrets_are_masked_longest_first() -> None:
    out = redact(
        "pw hunter2hunter2 and hunter2hunter2-extended",
        ["hunter2hunter2", "hunter2hunter2-extended"],
    )
    assert "hunter2" not in out
    assert out == f"pw {MASK} and {MASK}"


def test_ordinary_text_is_untouched() -> None:
    text = (
        "Fix task-ant skipping; commit 3f786850e387550fdab836ed7e6dc881de23001b; "
        "see sk-short and ghs_ prefix docs; authorization is checked in auth.py"
    )
    assert redact(text) == text
    assert redact(text, ["", "ab"]) == text
