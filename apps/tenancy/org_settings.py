"""
Validation of organization settings and quotas, from their defaults.

The type of each setting is the type of its default in
``DEFAULT_ORGANIZATION_SETTINGS`` (bool, int or object); integers may carry
bounds here. The API serializer and the console form are generated from the
same table, so a setting added to the defaults is editable everywhere.

An ``object`` setting belongs to the app that reads it, which registers its
schema in its ``AppConfig.ready()`` (tenancy imports no other app)::

    register_setting_validator("compliance", validate_compliance_settings)

A validator takes the value and returns its problems by sub-field
(``{"NAMING": ["params.patterns: ..."]}``), reported as
``compliance.NAMING``. A change that is valid but conflicts with the
organization's data (turning ``allow_overlapping_roots`` off while root
pools overlap) is refused by a guard, ``register_setting_guard(name, guard)``,
which the settings service calls under the organization's lock and which
raises ``Conflict``.

Minimums keep an organization from locking itself out of its own API (a rate
limit of 1 a minute) or losing its audit trail the next night.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from apps.tenancy.models import DEFAULT_ORGANIZATION_SETTINGS, DEFAULT_QUOTAS, Organization
from cloudpam.exceptions import ValidationError

SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "audit_retention_days": (30, 36_500),
    "rate_limit_per_minute": (60, 10_000_000),
    "token_default_lifetime_days": (1, 3_650),
    "token_max_lifetime_days": (1, 3_650),
}
QUOTA_BOUNDS: tuple[int, int] = (0, 10**15)
# Quotas whose zero would lock the organization out rather than switch a feature off.
QUOTA_MINIMUMS: dict[str, int] = {"max_api_calls_per_minute": 60}

SettingValidator = Callable[[Any], Mapping[str, Sequence[str]]]
SettingGuard = Callable[..., None]
_validators: dict[str, SettingValidator] = {}
_guards: dict[str, list[SettingGuard]] = {}

SETTING_LABELS: dict[str, str] = {
    "allow_overlapping_roots": "Allow overlapping root pools (separate routing domains)",
    "plans_private_space": "The address plan uses private space only",
    "audit_retention_days": "Keep audit events for (days)",
    "rate_limit_per_minute": "API requests a minute per user or token",
    "token_default_lifetime_days": "Default API token lifetime (days)",
    "token_max_lifetime_days": "Longest API token lifetime (days)",
    "compliance": "Compliance rule settings (JSON)",
    "require_mfa": "Require multi-factor authentication of members (local accounts)",
}


def quota_bounds(name: str) -> tuple[int, int]:
    """Return the lowest and highest limit quota ``name`` accepts."""
    return QUOTA_MINIMUMS.get(name, QUOTA_BOUNDS[0]), QUOTA_BOUNDS[1]


def _check_setting_name(name: str) -> None:
    if name not in DEFAULT_ORGANIZATION_SETTINGS:
        raise ValueError(
            f"Unknown setting '{name}'; add it to DEFAULT_ORGANIZATION_SETTINGS first."
        )


def register_setting_validator(name: str, validator: SettingValidator) -> None:
    """Register the schema of setting ``name``: ``validator(value)`` returns its problems.

    The problems map a sub-field (a key of the value, or ``""`` for the whole
    value) to messages; an empty mapping means the value is valid.
    """
    _check_setting_name(name)
    _validators[name] = validator


def register_setting_guard(name: str, guard: SettingGuard) -> None:
    """Register ``guard(*, organization, value)``, run before setting ``name`` changes.

    It is called inside the settings service, with the organization locked,
    only when the value differs from the current one; it raises (``Conflict``)
    to refuse the change.
    """
    _check_setting_name(name)
    _guards.setdefault(name, []).append(guard)


def check_setting_guards(*, organization: Organization, changes: Mapping[str, Any]) -> None:
    """Run the guards of every setting that ``changes`` gives a new value."""
    current = organization.effective_settings
    for name, value in changes.items():
        if name in current and current[name] == value:
            continue
        for guard in _guards.get(name, ()):
            guard(organization=organization, value=value)


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
        elif name in _validators:
            for field, messages in _validators[name](value).items():
                errors[f"{name}.{field}" if field else name] = list(messages)
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
        elif problem := _check_int(value, quota_bounds(name)):
            errors[name] = [problem]
    if errors:
        raise ValidationError(_first(errors), fields=errors)


def _first(errors: dict[str, list[str]]) -> str:
    name, messages = next(iter(errors.items()))
    return f"{name}: {messages[0]}"
