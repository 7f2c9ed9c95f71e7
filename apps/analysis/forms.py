"""Console forms of the analysis pages."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from apps.analysis.choices import Severity
from apps.analysis.engine import RULE_IDS, RULES
from apps.analysis.engine.compliance import MAX_PATTERN_LENGTH
from apps.analysis.engine.data import POOL_TYPES
from apps.analysis.engine.spaces import SPECIAL_CATEGORIES
from apps.analysis.services import DISMISS_REASON_MAX_LENGTH
from apps.pools.forms import PoolReferenceField


class DismissForm(forms.Form):
    """Why a recommendation is set aside."""

    reason = forms.CharField(
        max_length=DISMISS_REASON_MAX_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "Why is this not wanted?"}),
    )


class FindingFilterForm(forms.Form):
    """Filters of the compliance findings page."""

    rule = forms.ChoiceField(
        choices=[("", "Any rule"), *((rule_id, rule_id) for rule_id in RULE_IDS)], required=False
    )
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    pool = PoolReferenceField(
        required=False, label="Pool", help_text="Only this pool and the pools below it."
    )

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pool"].organization = organization


def _lines(text: str) -> list[str]:
    """Return the non-empty entries of ``text``, one per line or separated by commas."""
    return [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]


def _type_key(pool_type: str) -> str:
    """Return the form-field spelling of a pool type of the naming rule (``*`` is ``any``)."""
    return "any" if pool_type == "*" else pool_type


class ComplianceSettingsForm(forms.Form):
    """One card per rule: enabled, severity, and a typed field for each parameter.

    The form only parses what is typed (numbers, lists, choices); the rules themselves
    are checked by ``compliance_settings_update`` with the engine's schema, whose
    problems :meth:`apply_problems` puts on the field they concern. Only what differs
    from a rule's defaults is stored.
    """

    FAMILIES = (("ipv4", "IPv4", 32), ("ipv6", "IPv6", 128))
    PATTERN_TYPES = ("*", *POOL_TYPES)

    def __init__(self, *args: Any, current: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows: list[dict[str, Any]] = []
        for rule_id in RULE_IDS:
            rule = RULES[rule_id]
            stored = current.get(rule_id) if isinstance(current.get(rule_id), dict) else {}
            params = stored.get("params") if isinstance(stored.get("params"), dict) else {}
            effective = {**rule.defaults, **params}
            prefix = rule_id.lower()
            self.fields[f"{prefix}_enabled"] = forms.BooleanField(
                required=False, initial=stored.get("enabled", True), label=f"{rule_id} enabled"
            )
            # Not required: a severity left out keeps the rule's default.
            self.fields[f"{prefix}_severity"] = forms.ChoiceField(
                required=False,
                choices=Severity.choices,
                initial=stored.get("severity", rule.default_severity),
                label=f"{rule_id} severity",
            )
            names: list[str] = []
            for param in rule.defaults:
                names.extend(self._param_fields(prefix, rule_id, param, effective, params))
            self.rows.append(
                {
                    "id": rule_id,
                    "title": rule.title,
                    "default_severity": rule.default_severity,
                    "enabled": self[f"{prefix}_enabled"],
                    "severity": self[f"{prefix}_severity"],
                    "params": [self[name] for name in names],
                }
            )

    # Fields

    def _param_fields(
        self,
        prefix: str,
        rule_id: str,
        param: str,
        effective: dict[str, Any],
        stored: dict[str, Any],
    ) -> list[str]:
        """Add the fields of one parameter; return their names."""
        value = effective[param]
        name = f"{prefix}_{param}"
        field: forms.Field
        if param == "bounds":
            return self._bounds_fields(name, value if isinstance(value, dict) else {})
        if param == "patterns":
            return self._pattern_fields(name, stored.get("patterns"))
        if param == "roots":
            field = forms.BooleanField(
                required=False, initial=value, label="Also report overlapping root pools"
            )
        elif param == "threshold":
            field = forms.DecimalField(
                required=False,
                initial=value,
                label="Threshold (% used)",
                help_text="Default 80.",
                widget=forms.NumberInput(attrs={"step": "any"}),
            )
        elif param == "min_age_days":
            field = forms.IntegerField(
                required=False, initial=value, label="Older than (days)", help_text="Default 30."
            )
        elif param in ("categories", "types"):
            choices = SPECIAL_CATEGORIES if param == "categories" else POOL_TYPES
            field = forms.MultipleChoiceField(
                required=False,
                choices=[(choice, choice.replace("_", " ")) for choice in choices],
                initial=list(value or []),
                widget=forms.CheckboxSelectMultiple,
                label="Categories" if param == "categories" else "Pool types",
                help_text="None ticked: every type." if rule_id == "REQUIRED_TAGS" else "",
            )
        else:  # allowed prefixes, required tag keys: lists of text
            field = forms.CharField(
                required=False,
                initial="\n".join(value or []),
                widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
                label="Allowed prefixes" if param == "allowed" else "Tag keys",
                help_text="One per line (or separated by commas).",
            )
        self.fields[name] = field
        return [name]

    def _bounds_fields(self, name: str, bounds: dict[str, Any]) -> list[str]:
        names = []
        for pool_type in POOL_TYPES:
            families = bounds.get(pool_type) or {}
            for family, label, bits in self.FAMILIES:
                pair = families.get(family) or [None, None]
                for end, index in (("min", 0), ("max", 1)):
                    field_name = f"{name}_{pool_type}_{family}_{end}"
                    self.fields[field_name] = forms.IntegerField(
                        required=False,
                        min_value=0,
                        max_value=bits,
                        initial=pair[index],
                        label=f"{pool_type} {label} {'shortest' if end == 'min' else 'longest'}",
                    )
                    names.append(field_name)
        return names

    def _pattern_fields(self, name: str, stored: Any) -> list[str]:
        patterns = stored if isinstance(stored, dict) else {}
        names = []
        for pool_type in self.PATTERN_TYPES:
            field_name = f"{name}_{_type_key(pool_type)}"
            self.fields[field_name] = forms.CharField(
                required=False,
                max_length=MAX_PATTERN_LENGTH,
                initial=patterns.get(pool_type) or "",
                label=f"Names of {'every type' if pool_type == '*' else pool_type} pools",
                widget=forms.TextInput(attrs={"class": "mono", "placeholder": "vpc-[a-z0-9-]+"}),
            )
            names.append(field_name)
        return names

    # Cleaning

    def clean(self) -> dict[str, Any]:
        """Assemble ``compliance``: the rule settings as the organization stores them."""
        data = super().clean()
        compliance: dict[str, Any] = {}
        for rule_id in RULE_IDS:
            rule = RULES[rule_id]
            prefix = rule_id.lower()
            params: dict[str, Any] = {}
            for param, default in rule.defaults.items():
                value = self._param_value(f"{prefix}_{param}", param, default, data)
                if value is not None and value != default:
                    params[param] = value
            entry: dict[str, Any] = {
                "enabled": bool(data.get(f"{prefix}_enabled")),
                "severity": data.get(f"{prefix}_severity") or rule.default_severity,
            }
            if params:
                entry["params"] = params
            compliance[rule_id] = entry
        data["compliance"] = compliance
        return data

    def _param_value(self, name: str, param: str, default: Any, data: dict[str, Any]) -> Any:
        """Return the parameter as stored, or None to keep the default."""
        if param == "bounds":
            bounds: dict[str, Any] = {}
            for pool_type in POOL_TYPES:
                families = {}
                for family, _label, _bits in self.FAMILIES:
                    low = data.get(f"{name}_{pool_type}_{family}_min")
                    high = data.get(f"{name}_{pool_type}_{family}_max")
                    if low is not None or high is not None:
                        families[family] = [low, high]
                if families or pool_type in default:
                    bounds[pool_type] = families or None
            return {k: v for k, v in bounds.items() if v != default.get(k)} or None
        if param == "patterns":
            patterns = {}
            for pool_type in self.PATTERN_TYPES:
                text = (data.get(f"{name}_{_type_key(pool_type)}") or "").strip()
                if text:
                    patterns[pool_type] = text
            return patterns
        value = data.get(name)
        if param == "threshold":
            if value is None:
                return None
            return int(value) if value == value.to_integral_value() else float(value)
        if param in ("categories", "types"):
            return list(value or [])
        if param in ("allowed", "keys"):
            return _lines(value or "")
        return value

    def apply_problems(self, problems: dict[str, list[str]]) -> None:
        """Put the service's problems (by rule id, ``params.<name>: ...``) on their fields."""
        for rule_id, messages in problems.items():
            prefix = rule_id.lower()
            for message in messages:
                self.add_error(self._field_for(prefix, message), message)

    def _field_for(self, prefix: str, message: str) -> str | None:
        head, _colon, rest = message.partition(": ")
        if head in ("enabled", "severity"):
            return f"{prefix}_{head}"
        if not head.startswith("params."):
            return f"{prefix}_enabled" if f"{prefix}_enabled" in self.fields else None
        param = head.removeprefix("params.")
        if param == "bounds":
            match = re.match(r"([a-z*]+)(?:\.(ipv4|ipv6))?:", rest)
            if match:
                families = [match.group(2)] if match.group(2) else ["ipv4", "ipv6"]
                field = f"{prefix}_bounds_{match.group(1)}_{families[0]}_min"
                if field in self.fields:
                    return field
            return f"{prefix}_bounds_{POOL_TYPES[0]}_ipv4_min"
        if param == "patterns":
            match = re.match(r"([a-z]+|\*):", rest)
            key = _type_key(match.group(1)) if match else "any"
            field = f"{prefix}_patterns_{key}"
            return field if field in self.fields else f"{prefix}_patterns_any"
        field = f"{prefix}_{param}"
        return field if field in self.fields else None
