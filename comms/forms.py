"""Forms of the message-template editor."""

from django import forms

from backlog.models import BacklogEntry, parse_reference

from .models import MessageTemplate


class MessageTemplateForm(forms.ModelForm):
    """The texts of a new template version; the model's validators reject anything but allowed placeholders."""

    class Meta:
        model = MessageTemplate
        fields = ["channel", "subject", "body_text", "body_html"]
        widgets = {
            "subject": forms.TextInput(attrs={"size": 80}),
            "body_text": forms.Textarea(attrs={"rows": 10, "cols": 80}),
            "body_html": forms.Textarea(attrs={"rows": 10, "cols": 80}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].empty_label = "Any channel"
        self.fields["body_html"].help_text = "Optional. Values are HTML-escaped when they are filled in."


class PreviewForm(MessageTemplateForm):
    """The editor's form plus the entry the preview is rendered for."""

    reference = forms.CharField(
        max_length=20, label="Preview for entry", help_text="An entry's reference, such as BL-000123."
    )

    def clean_reference(self) -> BacklogEntry:
        text = self.cleaned_data["reference"]
        pk = parse_reference(text)
        if pk is None:
            raise forms.ValidationError(f"Invalid reference {text!r}: write it like BL-000123.")
        entry = BacklogEntry.objects.select_related("channel").filter(pk=pk).first()
        if entry is None:
            raise forms.ValidationError(f"Entry {text.strip().upper()} was not found.")
        return entry
