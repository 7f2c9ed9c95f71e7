"""Describe a client from its user agent (no Django import)."""

from __future__ import annotations

import hashlib

import ua_parser

MAX_USER_AGENT = 512


def device_describe(user_agent: str) -> str:
    """Return a short description of the browser, OS and device, e.g. ``Chrome 120 on Mac OS X``."""
    if not user_agent:
        return "Unknown device"
    result = ua_parser.parse(user_agent[:MAX_USER_AGENT])
    parts = []
    agent = result.user_agent
    if agent is not None and agent.family != "Other":
        parts.append(f"{agent.family} {agent.major}" if agent.major else agent.family)
    os = result.os
    if os is not None and os.family != "Other":
        parts.append(f"on {os.family}")
    device = result.device
    if device is not None and device.family not in ("Other", "Mac") and device.brand != "Generic":
        parts.append(f"({device.family})")
    return " ".join(parts) or user_agent[:80]


def session_key_hash(session_key: str) -> str:
    """Return the SHA-256 of a session key: what identifies a session without being one."""
    return hashlib.sha256(session_key.encode("utf-8")).hexdigest()
