"""
The hash chain of the audit trail, in plain Python (no Django imports).

Each event's hash is the SHA-256 of a canonical JSON document holding the
event's content and the previous event's hash, so changing, removing or
reordering any event breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# The previous hash of the first event of a chain.
GENESIS_HASH = "0" * 64


def canonical_json(content: Mapping[str, Any]) -> str:
    """Return ``content`` as JSON with sorted keys and no insignificant whitespace."""
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def chain_hash(content: Mapping[str, Any], prev_hash: str) -> str:
    """Return the hex SHA-256 of ``content`` chained to ``prev_hash``."""
    document = canonical_json({"content": content, "prev_hash": prev_hash})
    return hashlib.sha256(document.encode("utf-8")).hexdigest()
