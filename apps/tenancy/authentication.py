"""Bearer-token authentication for the API."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions

from apps.tenancy import rls
from apps.tenancy.context import bind_membership
from apps.tenancy.models import ApiToken, User
from apps.tenancy.services import api_token_record_use
from apps.tenancy.tokens import INVALID, TokenInvalid, verify_token
from cloudpam import context


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate ``Authorization: Bearer cpam_<prefix>_<secret>``.

    A verified token makes its membership the request's active membership and
    its organization the active organization (for scoping, row-level security
    and the log context); ``X-CloudPAM-Organization`` does not apply to tokens.
    """

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: give one token after 'Bearer'."
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID) from None
        try:
            token = verify_token(raw)
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None

        membership = token.membership
        user = membership.user
        django_request = request._request
        bind_membership(django_request, membership)
        # Bound until the middleware's tenant_context/bound blocks end the request.
        rls.activate(membership.organization)
        context.organization_var.set(membership.organization)
        context.actor_var.set({"user": user, "token": token})
        api_token_record_use(
            token=token, ip=django_request.META.get("REMOTE_ADDR") or None, request=django_request
        )
        return user, token

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="api"'
