"""JSON log lines with request context, and a last line of defence for secrets."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from cloudpam import context

# Token secrets, bearer headers and password-like key/value pairs. Code must
# never log them in the first place; this only keeps a mistake from leaking.
_SECRET_PATTERNS = [
    (re.compile(r"cpam_[A-Za-z0-9]+_[A-Za-z0-9_\-]+"), "cpam_[REDACTED]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+"), r"\1[REDACTED]"),
    # Invitation links: /invitations/<uid>/<password-setting token>/
    (re.compile(r"(/invitations/[^/\s]+/)(?!set-password/)[^/\s\"']+"), r"\1[REDACTED]"),
    (
        re.compile(
            r"(?i)((?:password|passwd|secret|api_key|token|client_secret)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\"'&\s,}]+"
        ),
        r"\1[REDACTED]",
    ),
]


# LogRecord attributes that are code locations or already handled, not data.
_RECORD_TEXT = {"msg", "name", "levelname", "pathname", "filename", "module", "funcName"}


# Any of the patterns: one search tells the usual line (nothing to redact) from the rare
# one, instead of four substitutions over every string of every record.
_ANY_SECRET = re.compile(
    "|".join(
        # A leading (?i) holds for its alternative only: (?i:...).
        f"(?i:{pattern.pattern[4:]})" if pattern.pattern.startswith("(?i)") else pattern.pattern
        for pattern, _ in _SECRET_PATTERNS
    )
)


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like a secret replaced."""
    if _ANY_SECRET.search(text) is None:
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    """Attach the request id, organization and user of the current context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = context.get_request_id()
        organization = context.get_organization()
        if not hasattr(record, "org"):
            record.org = getattr(organization, "slug", None)
        actor = context.get_actor() or {}
        if not hasattr(record, "user"):
            user = actor.get("user")
            record.user = getattr(user, "email", None) or actor.get("system")
        return True


class RedactSecretsFilter(logging.Filter):
    """Redact secrets from the message and its arguments before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        # Extra fields (an access line's path) are output too.
        for key, value in list(vars(record).items()):
            if key not in _RECORD_TEXT and isinstance(value, str):
                cleaned = redact(value)
                if cleaned != value:
                    setattr(record, key, cleaned)
        return True


class JsonFormatter(_BaseJsonFormatter):
    """Format a record as one JSON object with the fields SPEC.md lists."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault(
            "rename_fields", {"levelname": "level", "name": "logger", "message": "message"}
        )
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def process_log_record(self, log_record: dict[str, Any]) -> dict[str, Any]:
        for key in ("request_id", "org", "user"):
            log_record.setdefault(key, None)
        exc = log_record.get("exc_info")
        if isinstance(exc, str):
            log_record["exc_info"] = redact(exc)
        return log_record


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Send log lines meant for stdout to stderr while the block runs.

    For commands whose stdout is their result (``TOKEN=$(manage.py create_token ...)``):
    the audit and request lines still appear, just not in what the shell captures.
    """
    handlers = [
        handler
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for handler in getattr(logger, "handlers", [])
        if isinstance(handler, logging.StreamHandler)
        and handler.stream in (sys.stdout, sys.__stdout__)
    ]
    moved = [(handler, handler.setStream(sys.stderr)) for handler in handlers]
    try:
        yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)
