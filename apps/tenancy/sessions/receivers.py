"""Start and end ``UserSession`` rows with Django's sign-in and sign-out."""

from __future__ import annotations

from typing import Any

from apps.tenancy.sessions import services


def on_user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    services.user_session_start(request=request, user=user)


def on_user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    pk = request.session.get(services.SESSION_ROW_KEY)
    if pk is not None:
        services.user_session_end(user_session_id=pk)
