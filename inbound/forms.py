from django import forms

from .models import ContactChannel


class ContactForm(forms.Form):
    channel = forms.ChoiceField(choices=ContactChannel.choices, initial=ContactChannel.EMAIL)
    note = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the customer asked, as they put it.",
    )
    # Read in the site's time zone; empty means now.
    received_at = forms.DateTimeField(
        required=False,
        label="Received",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty means now.",
    )
