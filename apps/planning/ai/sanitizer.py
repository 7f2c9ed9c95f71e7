"""
Keep secrets out of what a language model is shown (SPEC.md section 7.3, Context).

``sanitize_text`` replaces with ``[redacted]``: PEM blocks, the credentials of connection
strings, ``Bearer``/``Basic`` header values, provider tokens (OpenAI and Anthropic
``sk-...``, AWS access key ids, GitHub, GitLab, Slack and Google keys, CloudPAM's own
``cpam_...`` tokens), JWTs, Fernet tokens, the values of ``password=...`` /
``secret: ...`` style pairs, e-mail addresses, and long high-entropy strings (at least
24 characters mixing upper case, lower case and digits with more than 3.5 bits of
entropy per character, or 32 hexadecimal digits and more: the shape of a random key,
not of a pool name such as ``prod-us-east-1-private-a``).

``sanitize`` walks dicts, lists, tuples and sets, sanitizing every string, key or value;
a dict entry whose key names a credential (password, secret, token, api_key,
credentials, private_key, client_secret, ...) is dropped whatever its value.

Every pattern is linear: no nested quantifier can backtrack, so a hostile name cannot
slow the sanitizer down.

No Django import.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from typing import Any

REDACTED = "[redacted]"

_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]{1,64}-----.*?(?:-----END [A-Z0-9 ]{1,64}-----|\Z)", re.DOTALL
)
# scheme://user:password@host or scheme://token@host: the whole user part goes.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,30}://)[^\s/@:]*(?::[^\s/@]*)?@")
_AUTH_HEADER = re.compile(r"(?i)\b(bearer|basic|token|apikey)(\s+)[A-Za-z0-9\-._~+/]{8,}=*")
_TOKENS = re.compile(
    r"(?:"
    r"sk-[A-Za-z0-9_\-]{16,}"  # OpenAI, Anthropic (sk-ant-...), project keys
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}"  # AWS key ids
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|glpat-[A-Za-z0-9_\-]{16,}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_\-]{30,}"  # Google API keys
    r"|cpam_[A-Za-z0-9]{10}_[A-Za-z0-9_\-]{8,}"  # CloudPAM API tokens
    r"|eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"  # JWT
    r"|gAAAAA[A-Za-z0-9_\-]{20,}={0,2}"  # Fernet
    r")"
)
# The names of secrets, not one.
_KEY_NAMES = (
    r"password|passwd|pwd|passphrase|pass|secret|token|api[_\-]?key|apikey|access[_\-]?key"
    r"|secret[_\-]?key|private[_\-]?key|account[_\-]?key|client[_\-]?secret|credentials?"
    r"|auth|authorization|signature|sig|sas|connection[_\-]?string"
)
# A key naming a secret (possibly prefixed/suffixed: db_password, AWS_SECRET_ACCESS_KEY),
# an optional closing quote, ``=`` / ``:`` / ``is``, then the value up to a separator.
_KEY_VALUE = re.compile(
    r"(?i)(?<![A-Za-z0-9])((?:[A-Za-z0-9]{1,40}[_\-.]){0,4}(?:"
    + _KEY_NAMES
    + r")(?:[_\-.][A-Za-z0-9]{1,40}){0,4})([\"']?\s{0,8}(?:[:=]|\bis\b)\s{0,8})"
    r"(\[redacted\]|\"[^\"\n]*\"?|'[^'\n]*'?|[^\s,;&\"'}\])]+)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})+")
_CANDIDATE = re.compile(r"[A-Za-z0-9+/_\-]{24,}={0,2}")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
ENTROPY_BITS = 3.5

# Dict keys that name a credential, compared lowercased without ``_ - . space``.
_CREDENTIAL_KEY_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "credential",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "accountkey",
    "signingkey",
    "encryptionkey",
    "authorization",
    "cookie",
    "connectionstring",
    "sastoken",
)
_CREDENTIAL_KEYS = frozenset({"token", "pwd", "auth", "key", "pass", "jwt", "bearer"})


def _entropy(text: str) -> float:
    counts = Counter(text)
    length = len(text)
    return -sum(n / length * math.log2(n / length) for n in counts.values())


def _looks_random(text: str) -> bool:
    """Return whether ``text`` has the shape of a random key rather than of a name."""
    if _HEX.fullmatch(text):
        return True
    core = text.rstrip("=")
    if not (
        any(c.isupper() for c in core)
        and any(c.islower() for c in core)
        and any(c.isdigit() for c in core)
    ):
        return False
    return _entropy(core) > ENTROPY_BITS


def _high_entropy(match: re.Match[str]) -> str:
    return REDACTED if _looks_random(match.group(0)) else match.group(0)


def sanitize_text(value: str) -> str:
    """Return ``value`` with every secret, token, credential and e-mail address redacted."""
    if not value:
        return value
    text = _PEM.sub(REDACTED, value)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _TOKENS.sub(REDACTED, text)
    text = _KEY_VALUE.sub(
        lambda m: m.group(0) if m.group(3) == REDACTED else f"{m.group(1)}{m.group(2)}{REDACTED}",
        text,
    )
    text = _EMAIL.sub(REDACTED, text)
    return _CANDIDATE.sub(_high_entropy, text)


def is_credential_key(key: object) -> bool:
    """Return whether a dict key names a credential (its value is never shown)."""
    if not isinstance(key, str):
        return False
    normalized = re.sub(r"[\s_\-.]", "", key.lower())
    if normalized in _CREDENTIAL_KEYS or normalized.endswith("token"):
        return True
    return any(part in normalized for part in _CREDENTIAL_KEY_PARTS)


def sanitize(value: Any) -> Any:
    """Return ``value`` with every string sanitized and every credential entry dropped.

    Dicts, lists, tuples, sets and dataclass instances are walked; numbers, booleans and
    None pass unchanged; any other object is shown as its sanitized ``str``.
    """
    if isinstance(value, str):
        return sanitize_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {
            sanitize(key): sanitize(item)
            for key, item in value.items()
            if not is_credential_key(key)
        }
    if isinstance(value, list | tuple):
        return type(value)(sanitize(item) for item in value)
    if isinstance(value, set | frozenset):
        return type(value)(sanitize(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            field.name: sanitize(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.init
        }
        return dataclasses.replace(value, **changes)
    return sanitize_text(str(value))
