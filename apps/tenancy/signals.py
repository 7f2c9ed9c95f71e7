"""
Signals of access events, sent by the tenancy services.

The audit app listens to them; tenancy never imports audit.
"""

from django.dispatch import Signal

# kwargs: token, actor (User or None), request (HttpRequest or None)
token_created = Signal()
# kwargs: token, actor, request
token_revoked = Signal()
# kwargs: token, request; sent once, the first time a token authenticates
token_first_used = Signal()
# kwargs: membership, action ("added" | "role_changed" | "removed"), old_role, new_role,
# actor, request
membership_changed = Signal()
# kwargs: user, event ("enrolled" | "verified" | "failed" | "reset"), method ("totp" |
# "recovery_code" | None), actor, request; never a code or a secret
mfa_event = Signal()
# kwargs: user_session, actor, request, reason ("user" | "admin" | "member_removed")
session_revoked = Signal()
