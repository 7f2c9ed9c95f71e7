"""
API token secrets: format, Argon2id hashing and the verification cache.

A token reads ``cpam_<prefix>_<secret>``. The prefix (10 letters and digits)
is stored in clear and finds the row; the secret (43 URL-safe characters,
256 bits) is stored only as an Argon2id hash. Argon2id costs tens of
milliseconds by design, so a verified token is remembered for a short while
under a keyed fast hash of the whole presented token (HMAC-SHA256 with a key
derived from SECRET_KEY): the cache never holds the token itself, and a cache
dump cannot be replayed as a credential.

Revocation cannot recompute that key (the raw token is gone), so each entry
is also indexed by token id; revoking a token deletes both. A cache hit is
still checked against the row, so a revoked or expired token fails even if
an entry survived. An entry holds the token id and its organization id, so a
hit reads the row inside that organization, without the RLS bypass.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.crypto import salted_hmac

from apps.tenancy import rls
from apps.tenancy.models import ApiToken
from apps.tenancy.rls import rls_bypass

PREFIX_ALPHABET = string.ascii_letters + string.digits
PREFIX_LENGTH = 10
TOKEN_RE = re.compile(r"^cpam_([A-Za-z0-9]{10})_([A-Za-z0-9_\-]{20,128})$")
CACHE_SECONDS = 60
FAILURE_CACHE_SECONDS = 60
# last_used_at/last_used_ip are written at most this often, not on every request.
LAST_USED_INTERVAL = timedelta(minutes=1)
_KEY_SALT = "cloudpam.tenancy.token-verification"
# One answer for every token that does not verify: it tells a prober nothing.
INVALID = "Invalid or expired token."


@dataclass(frozen=True)
class NewToken:
    """A freshly generated token: the full string is shown once, then forgotten."""

    prefix: str
    secret: str

    @property
    def value(self) -> str:
        return f"cpam_{self.prefix}_{self.secret}"


class TokenInvalid(Exception):
    """The presented token does not authenticate; the message says why, safely."""


def generate_token() -> NewToken:
    """Return a new random prefix and secret."""
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return NewToken(prefix=prefix, secret=secrets.token_urlsafe(32))


def parse_token(raw: str) -> tuple[str, str] | None:
    """Return ``(prefix, secret)`` of a well-formed token, else None."""
    match = TOKEN_RE.match(raw)
    return (match.group(1), match.group(2)) if match else None


def _hasher() -> PasswordHasher:
    params = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}
    params.update(getattr(settings, "CLOUDPAM_TOKEN_HASH_PARAMS", {}) or {})
    return PasswordHasher(type=Type.ID, **params)


def hash_secret(secret: str) -> str:
    """Return the Argon2id hash of a token secret."""
    return _hasher().hash(secret)


def secret_matches(secret_hash: str, secret: str) -> bool:
    """Return whether ``secret`` is the one ``secret_hash`` was made from (any credential)."""
    try:
        return _hasher().verify(secret_hash, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _verify_secret(token: ApiToken, secret: str) -> bool:
    hasher = _hasher()
    try:
        hasher.verify(token.secret_hash, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(token.secret_hash):
        # Costs were raised since the token was made: upgrade the stored hash.
        token.secret_hash = hasher.hash(secret)
        ApiToken.objects.filter(pk=token.pk).update(secret_hash=token.secret_hash)
    return True


def verification_key(raw: str) -> str:
    """Return the cache key of a presented token: a keyed hash, never the token."""
    digest = salted_hmac(_KEY_SALT, raw, algorithm="sha256").hexdigest()
    return f"tenancy:token:v:{digest}"


def _index_key(token_id: int) -> str:
    return f"tenancy:token:id:{token_id}"


def forget_token(token_id: int) -> None:
    """Drop a token's verification cache entry (on revocation or expiry)."""
    key = cache.get(_index_key(token_id))
    cache.delete_many([k for k in (key, _index_key(token_id)) if k])


def _remember(raw: str, token: ApiToken, now: Any) -> None:
    ttl = CACHE_SECONDS
    if token.expires_at is not None:
        ttl = min(ttl, int((token.expires_at - now).total_seconds()))
    if ttl <= 0:
        return
    key = verification_key(raw)
    entry = {"id": token.pk, "org": token.organization_id}
    cache.set_many({key: entry, _index_key(token.pk): key}, timeout=ttl)


def _row(**lookup: Any) -> ApiToken | None:
    # One row by a unique key: no ordering to plan or sort (``first()`` would add one).
    rows = list(
        ApiToken.objects.select_related("membership__user", "membership__organization")
        .order_by()
        .filter(**lookup)
    )
    return rows[0] if rows else None


def _find(raw: str, prefix: str, secret: str, key: str, cached: Any) -> ApiToken:
    """Return the token ``raw`` names with its organization active, or raise ``TokenInvalid``."""
    if cached == "invalid":
        raise TokenInvalid(INVALID)
    if cached is not None:
        # A verified token's organization is known: the row is read in it,
        # without the bypass and its two extra round trips.
        rls.activate(cached["org"])
        token = _row(pk=cached["id"], prefix=prefix)
        if token is None:
            cache.delete(key)
            raise TokenInvalid(INVALID)
        return token
    # The organization is what this lookup finds out, so it runs before one is bound.
    with rls_bypass():
        token = _row(prefix=prefix)
    if token is None:
        raise TokenInvalid(INVALID)
    if not _verify_secret(token, secret):
        # A wrong secret is not worth a second Argon2 run for the same string.
        cache.set(key, "invalid", timeout=FAILURE_CACHE_SECONDS)
        raise TokenInvalid(INVALID)
    rls.activate(token.organization_id)
    return token


def verify_token(raw: str) -> ApiToken:
    """Return the active token that ``raw`` names, or raise ``TokenInvalid``.

    Argon2id runs only on a cache miss; a hit costs one keyed hash, one cache
    read and the row lookup by id (which also sees revocation at once). On
    success the token's organization is the active tenant (``rls.activate``),
    as the request is about to act in it; on failure the state is as before.
    """
    parsed = parse_token(raw)
    if parsed is None:
        raise TokenInvalid(INVALID)
    prefix, secret = parsed
    key = verification_key(raw)
    cached = cache.get(key)
    now = timezone.now()
    previous = rls.current_state()
    try:
        token = _find(raw, prefix, secret, key, cached)
        if token.revoked_at is not None:
            forget_token(token.pk)
            raise TokenInvalid("This token has been revoked.")
        if token.is_expired(now):
            forget_token(token.pk)
            raise TokenInvalid("This token has expired.")
        if not token.membership.user.is_active:
            raise TokenInvalid("The token's user is inactive.")
    except TokenInvalid:
        rls.restore(previous)
        raise
    if cached is None:
        _remember(raw, token, now)
    return token
