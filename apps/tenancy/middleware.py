"""Bind the active organization of session-authenticated requests."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.tenancy.context import bind_membership, session_membership
from cloudpam import context


class ActiveOrganizationMiddleware:
    """Set ``request.organization``/``request.membership`` and the logging context.

    Bearer-token requests are bound later by the token authentication class,
    since DRF authenticates inside the view.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        membership = None
        if user is not None and user.is_authenticated:
            membership = session_membership(request, user)
        bind_membership(request, membership)
        with context.bound(
            request_id=context.get_request_id(),
            organization=request.organization,
            actor={"user": user} if user is not None and user.is_authenticated else None,
        ):
            return self.get_response(request)
