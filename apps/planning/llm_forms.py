"""Console form of an LLM provider; the API key field never shows a value."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from apps.cloud.forms import ServiceErrorMixin
from apps.planning.choices import LLMProviderKind
from apps.planning.llm_models import LLMProviderConfig
from apps.planning.llm_services import NAME_MAX_LENGTH

PRICE = {"max_digits": 12, "decimal_places": 6, "min_value": Decimal(0), "required": False}


class LLMProviderForm(ServiceErrorMixin, forms.Form):
    """The fields of a provider configuration; the key is write-only."""

    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    provider = forms.ChoiceField(choices=LLMProviderKind.choices)
    model = forms.CharField(max_length=200, help_text="For Azure OpenAI: the deployment name.")
    base_url = forms.CharField(
        max_length=500,
        required=False,
        label="Base URL",
        help_text="OpenAI-compatible endpoints end in /v1; Azure: the resource endpoint.",
    )
    api_version = forms.CharField(max_length=32, required=False, help_text="Azure OpenAI only.")
    api_key = forms.CharField(
        max_length=4096,
        required=False,
        label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown; leave empty to keep the stored one.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored API key")
    priority = forms.IntegerField(min_value=0, max_value=10_000, initial=100)
    enabled = forms.BooleanField(required=False, initial=True)
    timeout_seconds = forms.IntegerField(min_value=1, max_value=600, initial=60)
    max_output_tokens = forms.IntegerField(min_value=16, max_value=200_000, initial=4096)
    input_price = forms.DecimalField(label="Input price per million tokens", **PRICE)
    cached_input_price = forms.DecimalField(label="Cached input price per million tokens", **PRICE)
    output_price = forms.DecimalField(label="Output price per million tokens", **PRICE)

    @classmethod
    def initial_of(cls, config: LLMProviderConfig) -> dict[str, Any]:
        return {
            name: getattr(config, name)
            for name in cls.base_fields
            if name not in {"api_key", "clear_api_key"}
        }

    def service_fields(self) -> dict[str, Any]:
        """Return the cleaned data as the services take it."""
        data = dict(self.cleaned_data)
        clear = data.pop("clear_api_key", False)
        key = data.pop("api_key", "")
        if clear:
            data["api_key"] = ""
        elif key:
            data["api_key"] = key
        for name in ("input_price", "output_price"):
            if data.get(name) is None:
                data[name] = Decimal(0)
        return data
