"""The sanitizer: no secret, token, credential, key, password or e-mail address leaves.

Pure: ``pytest -p no:django --noconftest tests/planning/ai/test_sanitizer.py``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.planning.ai.sanitizer import REDACTED, is_credential_key, sanitize, sanitize_text

SECRETS = [
    ("openai key", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv"),
    ("anthropic key", "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4"),
    ("aws access key id", "AKIAIOSFODNN7EXAMPLE"),
    ("aws session key id", "ASIAY34FZKBOKMUTVV7A"),
    ("github token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("github pat", "github_pat_11ABCDEFG0123456789_abcdefghijklmnop"),
    ("gitlab token", "glpat-xxxxYYYYzzzz12345678"),
    ("slack token", "xoxb-123456789012-abcdefghijkl"),
    ("google key", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv"),
    ("cloudpam token", "cpam_AbC123dEf4_q1w2e3r4t5y6u7i8o9p0asdfghjkl"),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    ("fernet token", "gAAAAABlZ3x9Q2t5dGhpc2lzYWZlcm5ldHRva2VuZm9ydGVzdHM="),
    ("random base64", "Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MEFCQ0RFRg=="),
    ("random mixed", "aZ3kL9qW2xP7mN4vB8cR6tY1uI0oE5sD"),
    ("hex key", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    (
        "azure storage key",
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    ),
]


@pytest.mark.parametrize(("what", "secret"), SECRETS, ids=[what for what, _ in SECRETS])
def test_a_secret_in_free_text_is_redacted(what: str, secret: str) -> None:
    text = f"the {what} is here: {secret} (see the wiki)"
    cleaned = sanitize_text(text)
    assert secret not in cleaned
    assert REDACTED in cleaned
    assert cleaned.startswith("the ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2 and more", "password=[redacted] and more"),
        ("db_password: 'correct horse'", "db_password: [redacted]"),
        (
            '{"client_secret": "s3cr3t", "env": "prod"}',
            '{"client_secret": [redacted], "env": "prod"}',
        ),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY=[redacted]"),
        ("api-key = abc123", "api-key = [redacted]"),
        ("the secret is blue", "the secret is [redacted]"),
        (
            "Authorization: Bearer abcdefghijklmnopqrstuvwxyz",
            "Authorization: [redacted] [redacted]",
        ),
        ("token: [redacted]", "token: [redacted]"),
        (
            "postgres://app:pa55w0rd@db.internal:5432/cloudpam",
            "postgres://[redacted]@db.internal:5432/cloudpam",
        ),
        ("redis://:secret@cache:6379/0", "redis://[redacted]@cache:6379/0"),
        ("https://x-access:ghs_token@github.com/o/r", "https://[redacted]@github.com/o/r"),
        ("owner: alice.smith+net@example.co.uk", "owner: [redacted]"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAKC\n-----END RSA PRIVATE KEY----- done",
            "[redacted] done",
        ),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", "[redacted]"),
    ],
)
def test_credentials_in_context_are_redacted(text: str, expected: str) -> None:
    assert sanitize_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "10.20.0.0/16",
        "2001:db8:abcd:12::/64 and fd00::/8",
        "prod-us-east-1-private-subnet-a",
        "vpc-0a1b2c3d4e5f67890",
        "subnet-0123456789abcdef0",
        "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0a1b2c3d",
        "/subscriptions/x/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/hub",
        "Staging VPC for the payments team, 3 AZs",
        "allocate four /24s for staging in 10.20.0.0/16",
        "{region}-{env}-{tier}-{n}",
        "passes 3 tests; keyboard; monkey-business",
        "",
    ],
)
def test_plan_vocabulary_passes_unchanged(text: str) -> None:
    assert sanitize_text(text) == text


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "db_password",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "api_key",
        "apiKey",
        "X-API-Key",
        "credentials",
        "private_key",
        "secret_access_key",
        "AccountKey",
        "connection_string",
        "Authorization",
        "cookie",
        "sas_token",
    ],
)
def test_a_credential_key_is_dropped(key: str) -> None:
    assert is_credential_key(key)
    assert sanitize({key: "value", "env": "prod"}) == {"env": "prod"}


@pytest.mark.parametrize("key", ["env", "owner", "name", "cidr", "tier", "keyboard", "monkey"])
def test_an_ordinary_key_is_kept(key: str) -> None:
    assert not is_credential_key(key)


@dataclass(frozen=True)
class _Row:
    name: str
    tags: dict = field(default_factory=dict)
    size: int = 0


def test_sanitize_walks_every_container_and_field() -> None:
    value = {
        "pools": [
            {
                "name": "web",
                "description": "owner bob@example.com, password=letmein",
                "tags": {"env": "prod", "api_key": "AKIAIOSFODNN7EXAMPLE", "x": None},
                "size": 256,
                "ok": True,
            }
        ],
        "pair": ("sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv", 1.5),
        "set": frozenset({"alice@example.com"}),
        "row": _Row("carol@example.com", {"token": "t"}, 3),
        "bob@example.com": "key named by an address",
    }
    assert sanitize(value) == {
        "pools": [
            {
                "name": "web",
                "description": "owner [redacted], password=[redacted]",
                "tags": {"env": "prod", "x": None},
                "size": 256,
                "ok": True,
            }
        ],
        "pair": ("[redacted]", 1.5),
        "set": frozenset({"[redacted]"}),
        "row": _Row("[redacted]", {}, 3),
        "[redacted]": "key named by an address",
    }


# Property tests: a planted canary never survives, wherever it is planted.

_filler = st.text(
    alphabet=string.ascii_letters + string.digits + " .,;:-_/()[]{}\n\t'\"=@", max_size=60
)
_random_secret = st.text(alphabet=string.ascii_letters + string.digits, min_size=20, max_size=40)


def _canaries(core: str) -> list[str]:
    upper = "".join(c for c in core.upper() if c.isalnum())[:16].ljust(16, "Q")
    return [
        f"sk-canary{core}",
        f"AKIA{upper}",
        f"ghp_{core}{core}",
        f"eyJhbGciOi{core}.eyJzdWIi{core}.{core}",
        f"gAAAAA{core}{core}",
        f"cpam_{(core + 'x' * 10)[:10]}_{core}",
        f"canary.{core.lower()}@example.com",
    ]


@settings(max_examples=150, deadline=None)
@given(before=_filler, after=_filler, core=_random_secret, which=st.integers(0, 6))
def test_a_planted_token_never_survives(before: str, after: str, core: str, which: int) -> None:
    canary = _canaries(core)[which]
    assert canary not in sanitize_text(f"{before} {canary} {after}")


@settings(max_examples=150, deadline=None)
@given(
    before=_filler,
    after=_filler,
    value=st.text(
        alphabet=string.ascii_letters + string.digits + "!#$%^*+", min_size=6, max_size=30
    ),
    key=st.sampled_from(["password", "db_password", "secret", "API_KEY", "client_secret", "token"]),
    separator=st.sampled_from(["=", ": ", " = ", '": "', " is "]),
)
def test_a_planted_password_never_survives(
    before: str, after: str, value: str, key: str, separator: str
) -> None:
    canary = f"CANARY{value}"
    text = f"{before} {key}{separator}{canary} {after}"
    assert canary not in sanitize_text(text)


@settings(max_examples=100, deadline=None)
@given(
    key=st.sampled_from(["password", "secret", "token", "api_key", "credentials", "private_key"]),
    depth=st.integers(0, 4),
    value=st.text(min_size=1, max_size=20),
)
def test_a_canary_under_a_credential_key_never_survives(key: str, depth: int, value: str) -> None:
    canary = f"CANARY-{value}"
    document: object = {key: canary, "name": "web"}
    for level in range(depth):
        document = [{"level": level, "child": document}]
    assert canary not in repr(sanitize(document))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_sanitize_text_is_idempotent(text: str) -> None:
    once = sanitize_text(text)
    assert sanitize_text(once) == once
