"""
The authentication backend of single sign-on: mozilla-django-oidc, configured per provider.

mozilla-django-oidc reads one global configuration from settings; here each
sign-in builds the backend for one ``IdentityProvider`` (its discovery
document, client id and decrypted secret). The library's token exchange is
kept; what it checks too little is checked in ``apps.tenancy.sso.oidc``: the
ID token's issuer, audience, expiry and nonce, and keys published without a
``kid``. Every failure raises ``SSOFailure`` with a reason (the callback view
shows it and audits it), never a 500.
"""

from __future__ import annotations

from typing import Any

import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from apps.tenancy.sso import oidc
from apps.tenancy.sso.discovery import (
    MAX_DOCUMENT_BYTES,
    provider_discovery,
    provider_jwks,
    timeout,
    verify_tls,
)
from apps.tenancy.sso.models import IdentityProvider
from apps.tenancy.sso.services import SignIn, provider_client_secret, sso_sign_in

CALLBACK_URL_NAME = "tenancy:sso-callback"
BACKEND_PATH = "apps.tenancy.sso.backends.SSOBackend"


class SSOBackend(OIDCAuthenticationBackend):
    """Authenticate the authorization-code callback of one organization's identity provider.

    ``authenticate(request, sso_provider=..., nonce=..., code_verifier=...)``
    returns the signed-in user or raises ``SSOFailure``; called without
    ``sso_provider`` (a password sign-in) it returns None at once.
    """

    # Sessions of SSO users are loaded like password sessions: active users only.
    get_user = ModelBackend.get_user

    def __init__(self, provider: IdentityProvider | None = None) -> None:
        # Skip the library's settings-based configuration: it is per provider here.
        self.UserModel = get_user_model()
        self.provider = provider
        self.sign_in: SignIn | None = None
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None

    def _configure(self, provider: IdentityProvider) -> None:
        document = provider_discovery(provider)
        self.provider = provider
        self.discovery = document
        self.OIDC_OP_TOKEN_ENDPOINT = str(document["token_endpoint"])
        self.OIDC_OP_USER_ENDPOINT = str(document.get("userinfo_endpoint") or "")
        self.OIDC_OP_JWKS_ENDPOINT = str(document["jwks_uri"])
        self.OIDC_RP_CLIENT_ID = provider.client_id
        self.OIDC_RP_CLIENT_SECRET = provider_client_secret(provider)

    def get_settings(self, attr: str, *args: Any) -> Any:  # type: ignore[override]
        """Return the library's settings for this provider (never the global ones)."""
        values = {
            "OIDC_AUTHENTICATION_CALLBACK_URL": CALLBACK_URL_NAME,
            "OIDC_VERIFY_SSL": verify_tls(),
            "OIDC_TIMEOUT": timeout(),
            "OIDC_PROXY": None,
            "OIDC_TOKEN_USE_BASIC_AUTH": False,
            "OIDC_STORE_ACCESS_TOKEN": False,
            "OIDC_STORE_ID_TOKEN": False,
            "OIDC_USE_NONCE": True,
            "OIDC_ALLOW_UNSECURED_JWT": False,
            "OIDC_CREATE_USER": True,
        }
        if attr in values:
            return values[attr]
        if args:
            return args[0]
        raise AttributeError(attr)

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        provider = kwargs.pop("sso_provider", None)
        if provider is None or request is None:
            return None
        self._configure(provider)
        self._nonce = kwargs.get("nonce")
        return super().authenticate(request, **kwargs)

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Exchange the authorization code; a refusal or an outage is an ``SSOFailure``."""
        try:
            token_info = super().get_token(payload)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            error = ""
            if exc.response is not None:
                try:
                    error = str(exc.response.json().get("error", ""))[:100]
                except ValueError:
                    error = ""
            raise oidc.SSOFailure(
                "token_exchange_failed",
                f"{self.provider.name} refused to exchange the sign-in code "
                f"(HTTP {status}{', ' + error if error else ''}).",
            ) from None
        except requests.RequestException as exc:
            raise oidc.SSOFailure(
                "provider_unreachable",
                f"{self.provider.name} could not be reached ({type(exc).__name__}).",
            ) from None
        except ValueError:
            raise oidc.SSOFailure(
                "token_exchange_failed", f"{self.provider.name} answered the code with no JSON."
            ) from None
        if not isinstance(token_info, dict) or not isinstance(token_info.get("id_token"), str):
            raise oidc.SSOFailure(
                "token_exchange_failed", f"{self.provider.name} sent no ID token."
            )
        return token_info

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """Return the claims of a valid ID token (signature, iss, aud, exp, iat, nonce).

        The key set comes from the cache; when the token does not verify against it
        (the provider rotated its keys, perhaps without ``kid``), it is fetched again
        once before the token is refused.
        """
        header = oidc.token_header(token)
        for refresh in (False, True):
            try:
                key = oidc.select_key(
                    provider_jwks(self.OIDC_OP_JWKS_ENDPOINT, refresh=refresh), header
                )
                return oidc.verify_id_token(
                    token,
                    key=key,
                    issuer=str(self.discovery["issuer"]),
                    client_id=self.OIDC_RP_CLIENT_ID,
                    nonce=kwargs.get("nonce"),
                )
            except oidc.SSOFailure as exc:
                if refresh or exc.reason not in ("bad_signature", "unknown_key"):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        """Return the ID token's claims, completed by the userinfo endpoint when it has one.

        The ID token's claims win; userinfo about another subject is refused.
        """
        claims = dict(payload)
        if not self.OIDC_OP_USER_ENDPOINT or not access_token:
            return claims
        try:
            response = requests.get(
                self.OIDC_OP_USER_ENDPOINT,
                headers={"Authorization": f"Bearer {access_token}"},
                verify=verify_tls(),
                timeout=timeout(),
                allow_redirects=False,
            )
        except requests.RequestException:
            return claims
        content_type = response.headers.get("content-type", "").lower()
        if (
            response.status_code != 200
            or not content_type.startswith("application/json")
            or len(response.content) > MAX_DOCUMENT_BYTES
        ):
            return claims
        try:
            info = response.json()
        except ValueError:
            return claims
        if not isinstance(info, dict) or info.get("sub") != payload.get("sub"):
            return claims
        return {**info, **claims}

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        claims = self.get_userinfo(access_token, id_token, payload)
        self.sign_in = sso_sign_in(provider=self.provider, claims=claims, request=self.request)
        return self.sign_in.user
