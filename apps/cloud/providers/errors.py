"""The one error a provider call raises, shared by the client factories and the collectors.

Pure Python with no Django import: the standalone agent raises and reads it too.
"""

from __future__ import annotations


class ProviderError(Exception):
    """A cloud call that failed for good, with a code in the provider-neutral vocabulary.

    Codes: ``access_denied``, ``invalid_credentials``, ``throttled``, ``timeout``,
    ``not_found``, ``provider_error``. The message is the provider's own words, never a
    stack trace or a secret.
    """

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
