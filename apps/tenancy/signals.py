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
