"""The pure OpenID Connect rules of SSO (no database, no Django)."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from apps.tenancy.sso import oidc

ISSUER = "https://idp.example.com/realms/acme"
CLIENT = "cloudpam"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY = _key()
OTHER = _key()


def _jwk(key: rsa.RSAPrivateKey, **extra: str) -> dict[str, str]:
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), **extra}


def _token(key: rsa.RSAPrivateKey = KEY, headers: dict | None = None, **claims: object) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": CLIENT, "sub": "s", "iat": now, "exp": now + 300, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def _verify(token: str, nonce: str | None = "n") -> dict:
    key = oidc.select_key({"keys": [_jwk(KEY)]}, oidc.token_header(token))
    return oidc.verify_id_token(token, key=key, issuer=ISSUER, client_id=CLIENT, nonce=nonce)


def test_the_module_imports_no_django() -> None:
    source = Path(oidc.__file__).read_text(encoding="utf-8")
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert "django" not in roots
    assert "apps" not in roots


def test_a_valid_token_gives_its_claims():
    claims = _verify(_token(nonce="n", email="a@example.com"))
    assert claims["email"] == "a@example.com"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: _token(iss="https://evil.example.com", nonce="n"), "wrong_issuer"),
        (lambda: _token(aud="someone-else", nonce="n"), "wrong_audience"),
        (lambda: _token(exp=int(time.time()) - 120, nonce="n"), "token_expired"),
        (lambda: _token(iat=int(time.time()) + 3600, nonce="n"), "token_not_yet_valid"),
        (lambda: _token(nonce="other"), "nonce_mismatch"),
        (lambda: _token(nonce=None), "nonce_mismatch"),
        (lambda: _token(iss=None, nonce="n"), "invalid_token"),
        (lambda: _token(OTHER, nonce="n"), "bad_signature"),
        (
            lambda: _token(aud=[CLIENT, "other"], azp="other", nonce="n"),
            "wrong_audience",
        ),
    ],
)
def test_bad_tokens_name_their_fault(token, reason):
    with pytest.raises(oidc.SSOFailure) as caught:
        _verify(token())
    assert caught.value.reason == reason


def test_expiry_has_a_small_leeway():
    assert _verify(_token(exp=int(time.time()) - 30, nonce="n"))["sub"] == "s"


def test_unsigned_and_symmetric_tokens_are_refused():
    unsigned = jwt.encode({"iss": ISSUER}, None, algorithm="none")
    hmac = jwt.encode({"iss": ISSUER}, "client-secret", algorithm="HS256")
    for token in (unsigned, hmac):
        with pytest.raises(oidc.SSOFailure) as caught:
            oidc.token_header(token)
        assert caught.value.reason == "invalid_token"


def test_key_selection_with_and_without_kid():
    header = {"alg": "RS256"}
    assert oidc.select_key({"keys": [_jwk(KEY)]}, header) is not None
    two = {"keys": [_jwk(KEY, kid="a"), _jwk(OTHER, kid="b")]}
    assert oidc.select_key(two, {"alg": "RS256", "kid": "b"}).key_id == "b"
    with pytest.raises(oidc.SSOFailure) as caught:
        oidc.select_key(two, header)  # two candidates and no kid: never guessed
    assert caught.value.reason == "unknown_key"
    with pytest.raises(oidc.SSOFailure):
        oidc.select_key(two, {"alg": "RS256", "kid": "c"})
    # A token naming a kid, against a set published without ids (oidc-provider-mock).
    assert oidc.select_key({"keys": [_jwk(KEY)]}, {"alg": "RS256", "kid": "x"}) is not None
    encryption_only = {"keys": [_jwk(KEY, use="enc")]}
    with pytest.raises(oidc.SSOFailure):
        oidc.select_key(encryption_only, header)
    with pytest.raises(oidc.SSOFailure) as caught:
        oidc.select_key({"nope": 1}, header)
    assert caught.value.reason == "jwks_invalid"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://idp.example.com/", "https://idp.example.com"),
        ("http://localhost:8080/realms/x", "http://localhost:8080/realms/x"),
        ("http://127.0.0.1:9", "http://127.0.0.1:9"),
    ],
)
def test_issuers_accepted(value, expected):
    assert oidc.normalize_issuer(value) == expected


@pytest.mark.parametrize(
    "value",
    ["http://idp.example.com", "ftp://x", "", "https://", "https://x?y=1", "https://u:p@x"],
)
def test_issuers_refused(value):
    with pytest.raises(oidc.SSOFailure) as caught:
        oidc.normalize_issuer(value)
    assert caught.value.reason == "invalid_issuer"


def test_discovery_must_name_the_configured_issuer():
    document = {
        "issuer": ISSUER + "/",
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/certs",
    }
    assert oidc.check_discovery(document, ISSUER)["jwks_uri"] == f"{ISSUER}/certs"
    with pytest.raises(oidc.SSOFailure) as caught:
        oidc.check_discovery({**document, "issuer": "https://x"}, ISSUER)
    assert caught.value.reason == "issuer_mismatch"
    with pytest.raises(oidc.SSOFailure) as caught:
        oidc.check_discovery({"issuer": ISSUER}, ISSUER)
    assert "lacks authorization_endpoint, token_endpoint, jwks_uri" in caught.value.message
    with pytest.raises(oidc.SSOFailure):
        oidc.check_discovery([1], ISSUER)


@pytest.mark.parametrize(
    ("claims", "name", "groups"),
    [
        ({"groups": ["a", "b"]}, "groups", ["a", "b"]),
        ({"groups": "a, b c"}, "groups", ["a", "b", "c"]),
        ({"groups": '["a","b"]'}, "groups", ["a", "b"]),
        ({"realm_access": {"roles": ["x"]}}, "realm_access.roles", ["x"]),
        ({"roles": ["r"]}, "roles", ["r"]),
        ({}, "groups", []),
        ({"groups": {"a": 1}}, "groups", []),
        ({"groups": ["a"]}, "", []),
    ],
)
def test_group_claims(claims, name, groups):
    assert oidc.claim_groups(claims, name) == groups


def test_email_claim():
    assert oidc.claim_email({"email": " Ada@Example.COM "}, "email") == "ada@example.com"
    assert oidc.claim_email({"upn": "a@b.c"}, "upn") == "a@b.c"
    for claims in ({}, {"email": "nope"}, {"email": 5}):
        with pytest.raises(oidc.SSOFailure) as caught:
            oidc.claim_email(claims, "email")
        assert caught.value.reason == "no_email"
    with pytest.raises(oidc.SSOFailure) as caught:
        oidc.claim_email({"email": "a@b.c", "email_verified": False}, "email")
    assert caught.value.reason == "email_unverified"


def test_role_decision():
    mappings = {"ops": "operator", "admins": "admin", "audit": "auditor"}
    decide = oidc.decide_role
    assert decide(
        groups=["ops", "admins"], mappings=mappings, default_role=None, require_mapped_group=False
    ) == oidc.RoleDecision(role="admin", source="mapping", groups=("ops", "admins"))
    assert (
        decide(
            groups=["audit", "ops"],
            mappings=mappings,
            default_role=None,
            require_mapped_group=False,
        ).role
        == "operator"
    )
    assert decide(
        groups=["x"], mappings=mappings, default_role="viewer", require_mapped_group=False
    ) == oidc.RoleDecision(role="viewer", source="default")
    refused = oidc.RoleDecision(role=None, source="refused")
    assert (
        decide(groups=["x"], mappings=mappings, default_role="viewer", require_mapped_group=True)
        == refused
    )
    assert (
        decide(groups=[], mappings=mappings, default_role=None, require_mapped_group=False)
        == refused
    )
