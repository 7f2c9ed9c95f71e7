"""
Fetch and cache what an identity provider publishes: its discovery document and its keys.

The discovery document is cached on the provider row and fetched again after
``CLOUDPAM_SSO_DISCOVERY_TTL`` seconds (default an hour); the key set (JWKS)
is cached in the shared cache for ``CLOUDPAM_SSO_JWKS_TTL`` seconds and
fetched again at once when an ID token does not verify against it (the
provider rotated its keys, with or without ``kid``). Every fetch has a
timeout and a size limit; a failure is an ``SSOFailure`` naming it, never a
traceback.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.tenancy.sso import oidc
from apps.tenancy.sso.models import IdentityProvider

logger = logging.getLogger("apps.tenancy.sso")

MAX_DOCUMENT_BYTES = 512 * 1024


def timeout() -> float:
    """Return the seconds an HTTP call to an identity provider may take."""
    return float(getattr(settings, "CLOUDPAM_SSO_HTTP_TIMEOUT", 10))


def verify_tls() -> bool:
    return bool(getattr(settings, "OIDC_VERIFY_SSL", True))


def discovery_ttl() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "CLOUDPAM_SSO_DISCOVERY_TTL", 3600)))


def jwks_ttl() -> int:
    return int(getattr(settings, "CLOUDPAM_SSO_JWKS_TTL", 3600))


def fetch_json(url: str, *, what: str) -> Any:
    """Return the JSON document at ``url``, or raise ``SSOFailure`` saying what went wrong."""
    try:
        response = requests.get(
            url,
            timeout=timeout(),
            verify=verify_tls(),
            headers={"Accept": "application/json"},
            allow_redirects=False,
            stream=True,
        )
        body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
        response.close()
    except requests.Timeout:
        raise oidc.SSOFailure(
            "provider_unreachable", f"The {what} at {url} did not answer within {timeout():g} s."
        ) from None
    except requests.RequestException as exc:
        raise oidc.SSOFailure(
            "provider_unreachable",
            f"The {what} at {url} could not be reached ({type(exc).__name__}).",
        ) from None
    if response.status_code != 200:
        raise oidc.SSOFailure(
            "provider_error", f"The {what} at {url} answered HTTP {response.status_code}."
        )
    if len(body) > MAX_DOCUMENT_BYTES:
        raise oidc.SSOFailure("provider_error", f"The {what} at {url} is too large.")
    try:
        return json.loads(body)
    except ValueError:
        raise oidc.SSOFailure("provider_error", f"The {what} at {url} is not JSON.") from None


def discovery_fetch(issuer: str) -> dict[str, Any]:
    """Return the checked discovery document of ``issuer``, fetched now."""
    issuer = oidc.normalize_issuer(issuer)
    document = fetch_json(oidc.discovery_url(issuer), what="discovery document")
    return oidc.check_discovery(document, issuer)


def provider_discovery(provider: IdentityProvider, *, refresh: bool = False) -> dict[str, Any]:
    """Return the provider's discovery document, from its cache while it is fresh.

    A stale or missing cache is fetched again and stored on the row; a cache
    whose issuer no longer matches the configured one (the issuer was edited)
    is never used.
    """
    document = provider.discovery_document or {}
    fetched_at = provider.discovery_fetched_at
    fresh = (
        not refresh
        and document
        and fetched_at is not None
        and timezone.now() - fetched_at < discovery_ttl()
        and str(document.get("issuer", "")).rstrip("/") == provider.issuer.rstrip("/")
    )
    if fresh:
        return document
    document = discovery_fetch(provider.issuer)
    now = timezone.now()
    # A cache refresh, not a change of the configuration: no audit event, no updated_at.
    IdentityProvider.objects.filter(pk=provider.pk).update(
        discovery_document=document, discovery_fetched_at=now
    )
    provider.discovery_document, provider.discovery_fetched_at = document, now
    return document


def _jwks_cache_key(jwks_uri: str) -> str:
    return "cloudpam:sso:jwks:" + hashlib.sha256(jwks_uri.encode()).hexdigest()


def provider_jwks(jwks_uri: str, *, refresh: bool = False) -> dict[str, Any]:
    """Return the key set at ``jwks_uri``, from the cache unless ``refresh``."""
    key = _jwks_cache_key(jwks_uri)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    jwks = fetch_json(jwks_uri, what="key set (JWKS)")
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise oidc.SSOFailure("jwks_invalid", "The provider's key set (JWKS) is not valid.")
    cache.set(key, jwks, jwks_ttl())
    return jwks
