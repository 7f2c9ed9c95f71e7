"""Agent credentials: provisioning tokens (``cpap_``) and agent secrets (``cpag_``).

Both have the shape of API tokens (``<kind>_<prefix>_<secret>``) and reuse their
generator and Argon2id hashing from ``apps.tenancy.tokens``; the distinct kinds keep an
API token from ever passing for an agent and the other way round.
"""

from __future__ import annotations

import re

from apps.tenancy.tokens import NewToken, generate_token, hash_secret, secret_matches

PROVISIONING = "cpap"
AGENT = "cpag"
_RE = re.compile(r"^(cpap|cpag)_([A-Za-z0-9]{10})_([A-Za-z0-9_\-]{20,128})$")

__all__ = ["AGENT", "PROVISIONING", "hash_secret", "new_credential", "parse", "secret_matches"]


def new_credential(kind: str) -> tuple[NewToken, str]:
    """Return a fresh prefix and secret, and the full value to show once."""
    token = generate_token()
    return token, f"{kind}_{token.prefix}_{token.secret}"


def parse(raw: str, kind: str) -> tuple[str, str] | None:
    """Return ``(prefix, secret)`` of a well-formed credential of ``kind``, else None."""
    match = _RE.match(raw)
    if match is None or match.group(1) != kind:
        return None
    return match.group(2), match.group(3)
