"""Bearer-token authentication for the API."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate ``Authorization: Bearer cpam_<prefix>_<secret>``.

    Token verification arrives with the tenancy issue; until then every bearer
    credential is refused, so nothing is ever let in by mistake.
    """

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        raise exceptions.AuthenticationFailed("Invalid or expired token.")

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="api"'
