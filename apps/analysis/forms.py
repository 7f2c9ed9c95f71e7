"""Console forms of the analysis pages."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from apps.analysis.choices import Severity
from apps.analysis.engine import RULE_IDS, RULES
from apps.analysis.services import DISMISS_REASON_MAX_LENGTH
from cloudpam.jsonlimits import JSONTooDeepError, load_json

MAX_ID = 2**63 - 1


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
    pool = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        label="Pool id",
        help_text="Only this pool and the pools below it.",
    )


class ComplianceSettingsForm(forms.Form):
    """One row per rule: enabled, severity and parameters (a JSON object)."""

    def __init__(self, *args: Any, current: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows: list[dict[str, Any]] = []
        for rule_id in RULE_IDS:
            rule = RULES[rule_id]
            stored = current.get(rule_id) if isinstance(current.get(rule_id), dict) else {}
            params = stored.get("params") if isinstance(stored.get("params"), dict) else {}
            prefix = rule_id.lower()
            self.fields[f"{prefix}_enabled"] = forms.BooleanField(
                required=False, initial=stored.get("enabled", True), label="Enabled"
            )
            self.fields[f"{prefix}_severity"] = forms.ChoiceField(
                choices=Severity.choices,
                initial=stored.get("severity", rule.default_severity),
                label="Severity",
            )
            self.fields[f"{prefix}_params"] = forms.CharField(
                required=False,
                initial=json.dumps(params, indent=1, sort_keys=True) if params else "",
                widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
                label="Parameters (JSON)",
                help_text="Defaults: " + json.dumps(rule.defaults, sort_keys=True),
            )
            self.rows.append(
                {
                    "id": rule_id,
                    "title": rule.title,
                    "default_severity": rule.default_severity,
                    "enabled": self[f"{prefix}_enabled"],
                    "severity": self[f"{prefix}_severity"],
                    "params": self[f"{prefix}_params"],
                }
            )

    def clean(self) -> dict[str, Any]:
        """Assemble ``compliance``: the rule settings as the organization stores them."""
        data = super().clean()
        compliance: dict[str, Any] = {}
        for rule_id in RULE_IDS:
            prefix = rule_id.lower()
            text = (data.get(f"{prefix}_params") or "").strip()
            try:
                params = load_json(text) if text else {}
            except json.JSONDecodeError as exc:
                self.add_error(f"{prefix}_params", f"Not valid JSON: {exc.msg}.")
                continue
            except JSONTooDeepError as exc:
                self.add_error(f"{prefix}_params", str(exc))
                continue
            if not isinstance(params, dict):
                self.add_error(f"{prefix}_params", "Parameters must be a JSON object.")
                continue
            entry: dict[str, Any] = {
                "enabled": bool(data.get(f"{prefix}_enabled")),
                "severity": data.get(f"{prefix}_severity") or RULES[rule_id].default_severity,
            }
            if params:
                entry["params"] = params
            compliance[rule_id] = entry
        data["compliance"] = compliance
        return data
