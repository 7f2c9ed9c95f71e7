"""
Validation of organization settings and quotas, from their defaults.

The type of each setting is the type of its default in
``DEFAULT_ORGANIZATION_SETTINGS`` (bool, int or object); integers may carry
bounds here. The API serializer and the console form are generated from the
same table, so a setting added to the defaults is editable everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.tenancy.models import DEFAULT_ORGANIZATION_SETTINGS, DEFAULT_QUOTAS
from cloudpam.exceptions import ValidationError

SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "audit_retention_days": (1, 36_500),
    "rate_limit_per_minute": (1, 10_000_000),
    "token_default_lifetime_days": (1, 3_650),
    "token_max_lifetime_days": (1, 3_650),
}
QUOTA_BOUNDS: tuple[int, int] = (0, 10**15)

SETTING_LABELS: dict[str, str] = {
    "allow_overlapping_roots": "Allow overlapping root pools (separate routing domains)",
    "plans_private_space": "The address plan uses private space only",
    "audit_retention_days": "Keep audit events for (days)",
    "rate_limit_per_minute": "API requests a minute per user or token",
    "token_default_lifetime_days": "Default API token lifetime (days)",
    "token_max_lifetime_days": "Longest API token lifetime (days)",
    "compliance": "Compliance rule settings (JSON)",
}


def setting_kind(name: str) -> str:
    """Return ``bool``, ``int`` or ``object``: the kind of a setting, from its default."""
    default = DEFAULT_ORGANIZATION_SETTINGS[name]
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    return "object"


def _check_int(value: Any, bounds: tuple[int, int] | None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "A whole number is required."
    if bounds and not bounds[0] <= value <= bounds[1]:
        return f"Must be between {bounds[0]} and {bounds[1]}."
    return None


def validate_settings(changes: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """Return the effective settings after ``changes``, or raise ``ValidationError``."""
    errors: dict[str, list[str]] = {}
    for name, value in changes.items():
        if name not in DEFAULT_ORGANIZATION_SETTINGS:
            errors[name] = ["Unknown setting."]
            continue
        kind = setting_kind(name)
        if kind == "bool" and not isinstance(value, bool):
            errors[name] = ["Must be true or false."]
        elif kind == "int" and (problem := _check_int(value, SETTING_BOUNDS.get(name))):
            errors[name] = [problem]
        elif kind == "object" and not isinstance(value, dict):
            errors[name] = ["Must be a JSON object."]
    merged = {**DEFAULT_ORGANIZATION_SETTINGS, **current, **changes}
    if not errors and merged["token_default_lifetime_days"] > merged["token_max_lifetime_days"]:
        errors["token_default_lifetime_days"] = [
            "The default token lifetime cannot exceed the longest token lifetime "
            f"({merged['token_max_lifetime_days']} days)."
        ]
    if errors:
        raise ValidationError(_first(errors), fields=errors)
    return merged


def validate_quotas(changes: Mapping[str, Any]) -> None:
    """Raise ``ValidationError`` unless every change names a quota with a valid limit."""
    errors: dict[str, list[str]] = {}
    for name, value in changes.items():
        if name not in DEFAULT_QUOTAS:
            errors[name] = ["Unknown quota."]
        elif problem := _check_int(value, QUOTA_BOUNDS):
            errors[name] = [problem]
    if errors:
        raise ValidationError(_first(errors), fields=errors)


def _first(errors: dict[str, list[str]]) -> str:
    name, messages = next(iter(errors.items()))
    return f"{name}: {messages[0]}"
