"""Encryption of cloud credentials at rest: MultiFernet over ``CLOUDPAM_ENCRYPTION_KEYS``.

The setting lists Fernet keys, newest first: the first encrypts, every one decrypts, so a
key is rotated by putting the new one in front and running ``manage.py rotate_credentials``
(which re-encrypts every row with it) before the old one is dropped.

Without a configured key, only settings that set ``CLOUDPAM_DEV_ENCRYPTION_KEY = True``
(local development and tests) derive one from ``SECRET_KEY``; production refuses to store
a credential at all (``configuration_error``) rather than keep it in clear.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from cloudpam.exceptions import ApplicationError

DEV_KEY_CONTEXT = b"cloudpam-dev-credential-key:"


class ConfigurationError(ApplicationError):
    """The server is not configured for what was asked (400 ``configuration_error``)."""

    default_code = "configuration_error"


class CredentialsUnreadable(ApplicationError):
    """A stored credential none of the configured keys decrypts (400 ``configuration_error``)."""

    default_code = "configuration_error"


def _dev_key() -> bytes:
    # Derived, not random, so that every process of a development checkout (web, worker,
    # shell) agrees without sharing a file; worthless outside it, as SECRET_KEY is.
    digest = hashlib.sha256(DEV_KEY_CONTEXT + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def configured_keys() -> list[bytes]:
    """Return the Fernet keys in use, newest first (the development key when allowed)."""
    keys = [key.strip().encode() for key in settings.CLOUDPAM_ENCRYPTION_KEYS if key.strip()]
    if not keys and getattr(settings, "CLOUDPAM_DEV_ENCRYPTION_KEY", False):
        keys = [_dev_key()]
    return keys


def _fernet() -> MultiFernet:
    keys = configured_keys()
    if not keys:
        raise ConfigurationError(
            "Credentials cannot be stored: no encryption key is configured "
            "(set CLOUDPAM_ENCRYPTION_KEYS)."
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ConfigurationError(
            "CLOUDPAM_ENCRYPTION_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from None


def require_keys() -> None:
    """Raise ConfigurationError unless a usable key is configured."""
    _fernet()


def encrypt_secrets(secrets: Mapping[str, str]) -> str:
    """Return ``secrets`` encrypted with the newest key, as text for the database."""
    payload = json.dumps(dict(secrets), sort_keys=True).encode()
    return _fernet().encrypt(payload).decode()


def decrypt_secrets(token: str) -> dict[str, str]:
    """Return the secrets ``token`` holds (empty for an empty token)."""
    if not token:
        return {}
    try:
        payload = _fernet().decrypt(token.encode())
    except InvalidToken:
        raise CredentialsUnreadable(
            "The stored credentials cannot be decrypted with the configured keys; "
            "add the key they were encrypted with to CLOUDPAM_ENCRYPTION_KEYS."
        ) from None
    return json.loads(payload)


def reencrypt(token: str) -> str:
    """Return ``token`` encrypted again with the newest key (raises when no key decrypts it)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable(
            "The stored credentials cannot be decrypted with the configured keys."
        ) from None


def encrypted_with_newest(token: str) -> bool:
    """Return whether ``token`` decrypts with the newest key alone."""
    keys = configured_keys()
    if not keys:
        return False
    try:
        Fernet(keys[0]).decrypt(token.encode())
    except (InvalidToken, ValueError):
        return False
    return True
