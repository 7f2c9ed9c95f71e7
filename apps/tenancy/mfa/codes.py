"""
Recovery codes and re-verification age, as plain functions (no Django import).

A recovery code is ten characters of an unambiguous alphabet, shown as
``xxxxx-xxxxx`` (about 50 bits each). What the database keeps is a keyed
hash of it, 16 characters of base32 (80 bits), which fits django-otp's
static token column. A fast keyed hash is enough: the codes are random, not
chosen by people, so there is nothing for an offline dictionary to guess.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

# No 0/o, 1/l/i: a code is read off paper.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 10
CODE_COUNT = 10
DIGEST_LENGTH = 16


def recovery_code_generate() -> str:
    """Return a new recovery code, formatted ``xxxxx-xxxxx``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def recovery_codes_generate(count: int = CODE_COUNT) -> list[str]:
    """Return ``count`` distinct new recovery codes."""
    codes: list[str] = []
    while len(codes) < count:
        code = recovery_code_generate()
        if code not in codes:
            codes.append(code)
    return codes


def recovery_code_normalize(value: str) -> str | None:
    """Return the canonical form of a typed recovery code, or None if it cannot be one."""
    raw = "".join(value.split()).replace("-", "").lower()
    if len(raw) != CODE_LENGTH or any(char not in ALPHABET for char in raw):
        return None
    return f"{raw[:5]}-{raw[5:]}"


def recovery_code_digest(code: str, key: bytes) -> str:
    """Return the stored form of a canonical recovery code under ``key``."""
    mac = hmac.new(key, code.encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(mac).decode("ascii")[:DIGEST_LENGTH].lower()


def recovery_code_digests(code: str, keys: Iterable[bytes]) -> list[str]:
    """Return the digests of ``code`` under each key (the current one first)."""
    return [recovery_code_digest(code, key) for key in keys]


def looks_like_totp(value: str, digits: int = 6) -> bool:
    """Return whether ``value`` (spaces ignored) is a code of ``digits`` digits."""
    raw = "".join(value.split())
    return len(raw) == digits and raw.isdigit()


def reverification_due(verified_at: datetime | None, now: datetime, max_age: timedelta) -> bool:
    """Return whether a second factor verified at ``verified_at`` is too old at ``now``."""
    return verified_at is None or now - verified_at >= max_age or verified_at > now
