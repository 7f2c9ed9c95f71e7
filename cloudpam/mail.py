"""Mail delivery when none is configured: refuse, so that nothing lands in the log instead.

Django's console backend writes whole messages to stdout, which production ships
to its log store; an invitation carries a password-setting link. Production
therefore uses SMTP when ``EMAIL_HOST`` is set and this backend otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend

NOT_CONFIGURED_MESSAGE = (
    "No mail server is configured (set EMAIL_HOST, or EMAIL_BACKEND), so no email was sent."
)


class MailNotConfigured(Exception):
    """Sending was refused because this deployment has no mail server."""


class UnconfiguredEmailBackend(BaseEmailBackend):
    """Refuse every message with :class:`MailNotConfigured`, whatever ``fail_silently`` says.

    A silent drop would tell the inviter an invitation went out when it did not.
    """

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        if not email_messages:
            return 0
        raise MailNotConfigured(NOT_CONFIGURED_MESSAGE)
