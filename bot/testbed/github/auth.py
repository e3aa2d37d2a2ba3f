"""Authentication of the fake GitHub: App key pairs, App JWTs (RS256) and installation tokens."""

from __future__ import annotations

import secrets
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.testbed.github.state import AppIdentity, State, Token

# GitHub refuses App JWTs valid for more than 10 minutes; allow gidgethub's 60 s backdating.
MAX_JWT_LIFETIME_S = 600
CLOCK_SKEW_S = 60
BAD_CREDENTIALS = "Bad credentials"
BAD_JWT = "A JSON web token could not be decoded"
EXPIRED_JWT = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)
LONG_JWT = "'Expiration time' claim ('exp') is too far in the future"
EARLY_JWT = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was "
    "issued"
)


def generate_app(
    app_id: int = 12345, slug: str = "aios", *, owner: str = "octo-org", name: str | None = None
) -> AppIdentity:
    """A new App identity with a fresh 2048-bit RSA key pair and random secrets."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # GitHub hands out PKCS#1 PEMs
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return AppIdentity(
        app_id=app_id,
        slug=slug,
        name=name or slug.upper(),
        owner=owner,
        private_key_pem=private_pem,
        public_key_pem=public_pem,
        webhook_secret=secrets.token_hex(20),
        client_id=f"Iv23li{secrets.token_hex(7)}",
        client_secret=secrets.token_hex(20),
        permissions={  # the manifest's (github-app-manifest.yml)
            "actions": "read",
            "checks": "write",
            "contents": "write",
            "issues": "write",
            "metadata": "read",
            "pull_requests": "write",
            "statuses": "read",
        },
        events=["issues", "issue_comment", "pull_request", "pull_request_review", "check_run"],
    )


def split_authorization(header: str | None) -> tuple[str, str]:
    """('token'|'bearer'|'', credential) from an Authorization header value."""
    if not header:
        return "", ""
    scheme, _, credential = header.strip().partition(" ")
    return scheme.lower(), credential.strip()


def verify_app_jwt(app: AppIdentity, header: str | None, now: float | None = None) -> str | None:
    """None when the header carries a valid JWT for this App, else GitHub's error message."""
    scheme, credential = split_authorization(header)
    if scheme != "bearer" or not credential:
        return BAD_JWT
    try:
        claims = jwt.decode(
            credential,
            app.public_key_pem,
            algorithms=["RS256"],
            options={"require": ["iat", "exp", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return BAD_JWT
    current = time.time() if now is None else now
    issued, expires = claims["iat"], claims["exp"]
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        return BAD_JWT
    if str(claims["iss"]) not in (str(app.app_id), app.client_id):
        return BAD_JWT
    if expires <= current:
        return EXPIRED_JWT
    if issued > current + CLOCK_SKEW_S:
        return EARLY_JWT
    if expires - issued > MAX_JWT_LIFETIME_S + CLOCK_SKEW_S:
        return LONG_JWT
    return None


def find_token(state: State, header: str | None, now: float | None = None) -> Token | None:
    """The live installation token in an Authorization header (`token X` or `Bearer X`)."""
    scheme, credential = split_authorization(header)
    if scheme not in ("token", "bearer"):
        return None
    token = state.tokens.get(credential)
    current = time.time() if now is None else now
    if token is None or token.revoked or token.expires_at <= current:
        return None
    return token
