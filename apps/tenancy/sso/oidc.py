"""
The OpenID Connect rules of single sign-on, without Django.

Checks of what an identity provider sends (its discovery document, the keys
it signs with, the ID token's claims) and the mapping of a user's groups to a
role. Every refusal is an ``SSOFailure`` carrying a stable ``reason`` (for the
audit trail) and a sentence for the person signing in; nothing here logs or
returns a token.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

# Seconds of clock difference tolerated between this server and the provider.
LEEWAY_SECONDS = 60
# Signature algorithms accepted for ID tokens: asymmetric only, so that a
# token cannot be forged with the client secret or with ``none``.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
# Roles from most to least powerful; the highest matching group wins.
ROLE_ORDER = ("owner", "admin", "operator", "viewer", "auditor")
DISCOVERY_PATH = "/.well-known/openid-configuration"
REQUIRED_DISCOVERY_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


class SSOFailure(Exception):
    """A sign-in or configuration refused: ``reason`` is a stable code, ``message`` a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# ---------------------------------------------------------------- issuer and discovery


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_issuer(value: str) -> str:
    """Return the issuer URL without a trailing slash, or raise ``SSOFailure``.

    An issuer must be an ``https`` URL without query or fragment; plain
    ``http`` is accepted for loopback hosts only (a development provider).
    """
    issuer = (value or "").strip()
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SSOFailure("invalid_issuer", "The issuer must be an https:// URL.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise SSOFailure(
            "invalid_issuer", "The issuer must use https:// (http is allowed for localhost only)."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SSOFailure(
            "invalid_issuer", "The issuer must not carry a query, a fragment or credentials."
        )
    return issuer.rstrip("/")


def discovery_url(issuer: str) -> str:
    """Return where ``issuer`` publishes its discovery document."""
    return issuer.rstrip("/") + DISCOVERY_PATH


def _same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def check_discovery(document: Any, issuer: str) -> dict[str, Any]:
    """Return the discovery document if it is usable for ``issuer``, else raise ``SSOFailure``.

    The document's ``issuer`` must equal the configured one (OpenID Connect
    Discovery 1.0, section 4.3), and the endpoints needed for the
    authorization code flow must be present.
    """
    if not isinstance(document, Mapping):
        raise SSOFailure("discovery_invalid", "The discovery document is not a JSON object.")
    missing = [name for name in REQUIRED_DISCOVERY_FIELDS if not document.get(name)]
    if missing:
        raise SSOFailure(
            "discovery_invalid",
            f"The discovery document lacks {', '.join(missing)}.",
        )
    if not _same_issuer(str(document["issuer"]), issuer):
        raise SSOFailure(
            "issuer_mismatch",
            f"The discovery document names the issuer {document['issuer']!r}, "
            f"not the configured {issuer!r}.",
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = str(document[name])
        if urlsplit(value).scheme not in ("https", "http"):
            raise SSOFailure("discovery_invalid", f"The discovery document's {name} is no URL.")
    return dict(document)


# ---------------------------------------------------------------- keys


def select_key(jwks: Any, header: Mapping[str, Any]) -> jwt.PyJWK:
    """Return the key of ``jwks`` that verifies a token with ``header``.

    A token naming a ``kid`` takes the key of that id. A token or a key set
    without ids (some providers publish a single key without one) takes the
    only signing key of a matching type; several candidates without ids are
    refused rather than guessed.
    """
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise SSOFailure("jwks_invalid", "The provider's key set (JWKS) is not valid.")
    algorithm = str(header.get("alg", ""))
    kid = header.get("kid")
    candidates = []
    for key in jwks["keys"]:
        if not isinstance(key, Mapping):
            continue
        if key.get("use") not in (None, "sig"):
            continue
        if key.get("alg") not in (None, algorithm):
            continue
        if kid is not None and key.get("kid") not in (None, kid):
            continue
        candidates.append(key)
    if kid is not None:
        named = [key for key in candidates if key.get("kid") == kid]
        candidates = named or [key for key in candidates if key.get("kid") is None]
    if len(candidates) != 1:
        raise SSOFailure(
            "unknown_key",
            "The ID token is signed with a key the provider does not publish.",
        )
    try:
        return jwt.PyJWK(dict(candidates[0]), algorithm=algorithm)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
        raise SSOFailure("jwks_invalid", "The provider's signing key is not usable.") from None


def token_header(token: str) -> dict[str, Any]:
    """Return the unverified header of a JWT, or raise ``SSOFailure``."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise SSOFailure("invalid_token", "The provider sent a malformed ID token.") from None
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise SSOFailure(
            "invalid_token",
            f"The ID token's signature algorithm {header.get('alg')!r} is not accepted.",
        )
    return header


# ---------------------------------------------------------------- the ID token


def verify_id_token(
    token: str,
    *,
    key: jwt.PyJWK,
    issuer: str,
    client_id: str,
    nonce: str | None,
    leeway: int = LEEWAY_SECONDS,
) -> dict[str, Any]:
    """Return the claims of a valid ID token, or raise ``SSOFailure`` naming the fault.

    Checks the signature, ``iss`` (exactly the provider's issuer), ``aud``
    (contains the client id; ``azp`` the client when several audiences),
    ``exp`` and ``iat`` (with ``leeway`` seconds), and ``nonce`` (the one this
    sign-in sent).
    """
    header = token_header(token)
    options = {"require": ["iss", "aud", "exp", "iat", "sub"], "verify_iss": False}
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[str(header["alg"])],
            audience=client_id,
            options=options,
            leeway=leeway,
        )
    except jwt.ExpiredSignatureError:
        raise SSOFailure("token_expired", "The ID token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise SSOFailure("token_not_yet_valid", "The ID token is not valid yet.") from None
    except jwt.InvalidAudienceError:
        raise SSOFailure("wrong_audience", "The ID token was issued for another client.") from None
    except jwt.InvalidSignatureError:
        raise SSOFailure("bad_signature", "The ID token's signature is not valid.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise SSOFailure("invalid_token", f"The ID token lacks the claim {exc.claim!r}.") from None
    except jwt.PyJWTError:
        raise SSOFailure(
            "invalid_token", "The provider sent an ID token that is not valid."
        ) from None
    if not isinstance(claims.get("iss"), str) or not _same_issuer(claims["iss"], issuer):
        raise SSOFailure(
            "wrong_issuer",
            f"The ID token was issued by {claims.get('iss')!r}, not by {issuer!r}.",
        )
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") not in (None, client_id):
        raise SSOFailure("wrong_audience", "The ID token was issued for another client.")
    if nonce is not None and claims.get("nonce") != nonce:
        raise SSOFailure("nonce_mismatch", "The ID token does not belong to this sign-in.")
    return claims


# ---------------------------------------------------------------- claims and roles


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """Return claim ``name`` of ``claims``; a dotted name reads a nested claim.

    ``realm_access.roles`` (Keycloak) reads ``claims["realm_access"]["roles"]``.
    A claim whose name itself contains dots wins over the nested reading.
    """
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def claim_groups(claims: Mapping[str, Any], name: str) -> list[str]:
    """Return the groups in claim ``name``: a list of strings, or one string (spaces or commas)."""
    if not name:
        return []
    value = claim_value(claims, name)
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                value = text
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
    if isinstance(value, Iterable) and not isinstance(value, (Mapping, bytes)):
        return [str(item) for item in value if isinstance(item, (str, int))]
    return []


def claim_email(claims: Mapping[str, Any], name: str) -> str:
    """Return the e-mail address in claim ``name``, lower-cased, or raise ``SSOFailure``.

    A provider that says the address is not verified (``email_verified`` false)
    is refused: an unverified address would let anyone claim an account.
    """
    value = claim_value(claims, name or "email")
    if not isinstance(value, str) or "@" not in value.strip() or len(value.strip()) > 254:
        raise SSOFailure(
            "no_email",
            f"The provider did not send an e-mail address (claim {name or 'email'!r}).",
        )
    if claims.get("email_verified") is False:
        raise SSOFailure("email_unverified", "The provider says this e-mail address is unverified.")
    return value.strip().lower()


@dataclass(frozen=True)
class RoleDecision:
    """The role a sign-in gets, and why: ``source`` is ``mapping``, ``default`` or ``refused``."""

    role: str | None
    source: str
    groups: tuple[str, ...] = ()


def highest_role(roles: Iterable[str]) -> str | None:
    """Return the most powerful of ``roles`` (by ``ROLE_ORDER``), or None."""
    known = [role for role in roles if role in ROLE_ORDER]
    return min(known, key=ROLE_ORDER.index) if known else None


def decide_role(
    *,
    groups: Sequence[str],
    mappings: Mapping[str, str],
    default_role: str | None,
    require_mapped_group: bool,
) -> RoleDecision:
    """Return the role of a user in ``groups`` given ``mappings`` (group value -> role).

    The highest role among the matching groups wins; without a match, the
    default role, unless the provider requires a mapped group or has no
    default, which refuses the sign-in.
    """
    matched = tuple(group for group in groups if group in mappings)
    role = highest_role(mappings[group] for group in matched)
    if role is not None:
        return RoleDecision(role=role, source="mapping", groups=matched)
    if require_mapped_group or not default_role:
        return RoleDecision(role=None, source="refused")
    return RoleDecision(role=default_role, source="default")
