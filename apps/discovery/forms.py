from django import forms


class ProvisioningTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the agents it registers run.")
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="Empty: it never expires."
    )
