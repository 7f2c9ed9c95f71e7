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

Each process also remembers the tokens it verified (the same entry, for the same
minute at most): which token and organization a string names never changes, so
a request with a token seen lately skips the cache read and goes straight to the
row, which still decides revocation, expiry and the user's state. The row, its
membership, user and organization are one hand-written join
(``cloudpam.db.rows``): every API request reads it.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django.utils.crypto import salted_hmac

from apps.tenancy import rls
from apps.tenancy.models import ApiToken, Membership, Organization, User
from apps.tenancy.rls import rls_bypass
from cloudpam.db import rows

PREFIX_ALPHABET = string.ascii_letters + string.digits
PREFIX_LENGTH = 10
TOKEN_RE = re.compile(r"^cpam_([A-Za-z0-9]{10})_([A-Za-z0-9_\-]{20,128})$")
CACHE_SECONDS = 60
FAILURE_CACHE_SECONDS = 60
# last_used_at/last_used_ip are written at most this often, not on every request.
LAST_USED_INTERVAL = timedelta(minutes=1)
_KEY_SALT = "cloudpam.tenancy.token-verification"
# Tokens this process verified: keyed hash -> ({"id", "org"}, monotonic deadline).
_VERIFIED: dict[str, tuple[dict[str, int], float]] = {}
_VERIFIED_MAX = 10_000
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


_MODELS = (ApiToken, Membership, User, Organization)
_SQL: dict[tuple[str, bool], str] = {}


def _row_sql(connection: Any, by_id: bool) -> str:
    key = (connection.vendor, by_id)
    sql = _SQL.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        token, membership, user, organization = (quote(m._meta.db_table) for m in _MODELS)
        select = ", ".join(rows.columns(model) for model in _MODELS)
        sql = (
            f"SELECT {select} FROM {token}"  # noqa: S608 (names, not data)
            f" INNER JOIN {membership}"
            f" ON {membership}.{quote('id')} = {token}.{quote('membership_id')}"
            f" INNER JOIN {user} ON {user}.{quote('id')} = {membership}.{quote('user_id')}"
            f" INNER JOIN {organization}"
            f" ON {organization}.{quote('id')} = {membership}.{quote('organization_id')}"
            f" WHERE {token}.{quote('prefix')} = %s"
        )
        if by_id:
            sql += f" AND {token}.{quote('id')} = %s"
        _SQL[key] = sql
    return sql


def _row(*, prefix: str, pk: int | None = None) -> ApiToken | None:
    """Return the token ``prefix`` (and ``pk``) names, with its membership, user and organization.

    Every authenticated API request reads this row, so it is one hand-written join
    (``cloudpam.db.rows``) rather than a ``select_related`` queryset compiled each time.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    params: list[Any] = [prefix] if pk is None else [prefix, pk]
    with connection.cursor() as cursor:
        cursor.execute(_row_sql(connection, pk is not None), params)
        found = cursor.fetchall()
    if not found:
        return None
    row = found[0]
    start = 0
    loaded = []
    for model in _MODELS:
        width = len(model._meta.concrete_fields)
        loaded.append(rows.load(connection, model, [row[start : start + width]])[0])
        start += width
    token, membership, user, organization = loaded
    Membership.user.field.set_cached_value(membership, user)
    Membership.organization.field.set_cached_value(membership, organization)
    ApiToken.membership.field.set_cached_value(token, membership)
    if token.organization_id == organization.pk:
        ApiToken.organization.field.set_cached_value(token, organization)
    return token


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


def _recall(key: str) -> dict[str, int] | None:
    """Return this process's own record of a verified token, while it is fresh."""
    found = _VERIFIED.get(key)
    if found is None:
        return None
    entry, until = found
    if time.monotonic() >= until:
        _VERIFIED.pop(key, None)
        return None
    return entry


def _memorize(key: str, token: ApiToken, now: Any) -> None:
    ttl = CACHE_SECONDS
    if token.expires_at is not None:
        ttl = min(ttl, int((token.expires_at - now).total_seconds()))
    if ttl <= 0:
        return
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = ({"id": token.pk, "org": token.organization_id}, time.monotonic() + ttl)


def verify_token(raw: str) -> ApiToken:
    """Return the active token that ``raw`` names, or raise ``TokenInvalid``.

    Argon2id runs only on a cache miss; a hit costs one keyed hash, one cache
    read and the row lookup by id (which also sees revocation at once). A token
    this process verified in the last minute skips the cache read too: which
    token and organization a string names never changes, and the row read
    still decides whether it is revoked, expired or its user inactive. On
    success the token's organization is the active tenant (``rls.activate``),
    as the request is about to act in it; on failure the state is as before.
    """
    parsed = parse_token(raw)
    if parsed is None:
        raise TokenInvalid(INVALID)
    prefix, secret = parsed
    key = verification_key(raw)
    recalled = _recall(key)
    cached = recalled if recalled is not None else cache.get(key)
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
        _VERIFIED.pop(key, None)
        rls.restore(previous)
        raise
    if cached is None:
        _remember(raw, token, now)
    if recalled is None:
        _memorize(key, token, now)
    return token
