"""Note a user's MFA state when they sign in, so that their requests find it cached."""

from __future__ import annotations

from typing import Any

from apps.tenancy.mfa.state import mfa_user_state


def on_user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    mfa_user_state(user, fresh=True)
