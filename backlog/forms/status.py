"""The form that moves an entry to another status."""

from django import forms

from backlog.models import Status


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices, label="New status")
    reason = forms.CharField(
        max_length=500, label="Why", help_text="Goes on the timeline, such as 'carrier confirmed delivery'."
    )
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
