"""The pure parts of MFA and sessions: recovery codes, their digests, re-verification age,
devices from user agents. No database."""

from __future__ import annotations

import ast
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apps.tenancy.mfa import codes
from apps.tenancy.sessions import device

NOW = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
TWELVE_HOURS = timedelta(hours=12)


def _import_roots(module: object) -> set[str]:
    source = Path(module.__file__).read_text(encoding="utf-8")  # type: ignore[attr-defined]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            found.add((node.module or "").split(".")[0])
    return found


def test_the_codes_module_imports_only_the_standard_library():
    assert _import_roots(codes) <= set(sys.stdlib_module_names) | {"__future__"}


def test_the_device_module_imports_no_django():
    assert "django" not in _import_roots(device)
    assert _import_roots(device) <= set(sys.stdlib_module_names) | {"__future__", "ua_parser"}


def test_recovery_codes_are_ten_distinct_readable_codes():
    generated = codes.recovery_codes_generate()
    assert len(generated) == 10
    assert len(set(generated)) == 10
    for code in generated:
        assert len(code) == 11
        assert code[5] == "-"
        assert set(code.replace("-", "")) <= set(codes.ALPHABET)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("abcde-fghjk", "abcde-fghjk"),
        ("ABCDE FGHJK", "abcde-fghjk"),
        (" abcdefghjk ", "abcde-fghjk"),
        ("abcde-fghj", None),
        ("abcde-fghj1", None),  # 1 is not in the alphabet
        ("123456", None),
        ("", None),
    ],
)
def test_typed_codes_are_normalized(typed, canonical):
    assert codes.recovery_code_normalize(typed) == canonical


def test_digests_fit_the_token_column_and_depend_on_the_key():
    digest = codes.recovery_code_digest("abcde-fghjk", b"key one")
    assert len(digest) == 16
    assert digest != codes.recovery_code_digest("abcde-fghjk", b"key two")
    assert digest != codes.recovery_code_digest("abcde-fghjm", b"key one")
    assert "abcde" not in digest
    assert codes.recovery_code_digests("abcde-fghjk", [b"key one", b"key two"])[0] == digest


@pytest.mark.parametrize(
    ("verified_at", "due"),
    [
        (None, True),
        (NOW - timedelta(hours=11, minutes=59), False),
        (NOW - TWELVE_HOURS, True),
        (NOW - timedelta(days=3), True),
        (NOW + timedelta(minutes=5), True),  # from the future: not believed
    ],
)
def test_reverification_is_due_after_twelve_hours(verified_at, due):
    assert codes.reverification_due(verified_at, NOW, TWELVE_HOURS) is due


@pytest.mark.parametrize(
    ("value", "is_totp"),
    [("123456", True), ("123 456", True), ("12345", False), ("abcdef", False)],
)
def test_totp_codes_are_six_digits(value, is_totp):
    assert codes.looks_like_totp(value) is is_totp


def test_session_keys_are_hashed():
    assert device.session_key_hash("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
