"""
Limits on the nesting depth of JSON documents from users.

Python's ``json`` module parses and serializes recursively, so a document a
few thousand levels deep raises ``RecursionError`` wherever it travels
(parser, serializer, database adapter). Nothing CloudPAM stores needs more
than a few levels, so documents deeper than ``MAX_JSON_DEPTH`` are refused
where they enter: the API parser (``cloudpam.api.parsers``) and the forms'
JSON field (``cloudpam.forms``).
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 64


class JSONTooDeepError(ValueError):
    """A JSON document nested deeper than the limit."""

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels is not accepted.")
        self.limit = limit


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Return whether ``value`` nests objects or arrays more than ``limit`` levels deep.

    ``{"a": 1}`` and ``[1]`` are one level deep; a scalar is none. The walk keeps
    its own stack rather than recursing, so any depth can be measured.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> Any:
    """Return ``value``, or raise ``JSONTooDeepError`` when it nests deeper than ``limit``."""
    if json_depth_exceeds(value, limit):
        raise JSONTooDeepError(limit)
    return value


class JSONTextError(ValueError):
    """A JSON string or key that no database column can hold."""


def check_json_text(value: Any) -> Any:
    """Return ``value``, or raise ``JSONTextError`` for a NUL character or an unpaired surrogate.

    JSON may carry both (``"\\u0000"``, ``"\\ud800"``), but PostgreSQL's text and
    ``jsonb`` refuse them and UTF-8 cannot encode a lone surrogate, so a document
    holding one would fail only when it is saved, as a 500. Keys are checked too.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise JSONTextError("Text with a NUL character (\\u0000) is not accepted.")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise JSONTextError(
                    "Text with an unpaired surrogate (\\ud800-\\udfff) is not accepted."
                ) from None
    return value


def load_json(source: Any, *, limit: int = MAX_JSON_DEPTH, **kwargs: Any) -> Any:
    """Parse a JSON text (``str`` or ``bytes``) no deeper than ``limit``.

    Raise ``json.JSONDecodeError`` for invalid JSON and ``JSONTooDeepError`` (both
    ``ValueError``) for a document too deep, including one too deep to parse at all.
    """
    try:
        value = json.loads(source, **kwargs)
    except RecursionError:
        raise JSONTooDeepError(limit) from None
    return check_json_depth(value, limit)
