"""Check every signed-in request's session against its ``UserSession`` row."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.tenancy.sessions import services
from apps.tenancy.sessions.models import UserSession


class UserSessionMiddleware:
    """Sign out a revoked session at once, and note when each live one was last seen.

    Runs after ``AuthenticationMiddleware``. A session signed in before
    sessions were tracked is adopted (a row is made for it). A revoked or
    missing row flushes the session: the request goes on anonymous, so the
    console sends it to the sign-in page and the API answers 401.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        due: int | None = None
        if user is not None and user.is_authenticated:
            due = self._check(request, user)
        response = self.get_response(request)
        if due is not None:
            organization = getattr(request, "organization", None)
            services.user_session_touch(
                user_session_id=due,
                request=request,
                organization_id=getattr(organization, "pk", None),
            )
            services.session_forget(due)
        return response

    def _check(self, request: HttpRequest, user: object) -> int | None:
        """Return the id of the session when its last-seen time is due, else None."""
        pk = request.session.get(services.SESSION_ROW_KEY)
        if pk is None:
            services.user_session_start(request=request, user=user)  # type: ignore[arg-type]
            return None
        cached = services.session_cached(pk)
        if cached is not None and cached[0] == user.pk:  # type: ignore[attr-defined]
            last_seen = cached[1]
        else:
            row = (
                UserSession.objects.filter(pk=pk, user_id=user.pk)  # type: ignore[attr-defined]
                .only("pk", "user_id", "last_seen_at", "revoked_at")
                .first()
            )
            if row is None or row.revoked_at is not None:
                # Not logout(): no "logout" event for a session ended by its revocation.
                request.session.flush()
                request.user = AnonymousUser()
                return None
            services.session_remember_alive(row)
            last_seen = row.last_seen_at
        if timezone.now() - last_seen >= services.TOUCH_INTERVAL:
            return int(pk)
        return None
