"""The upload form of the generic CSV import and the confirmation that follows its preview."""

from datetime import datetime

from django import forms
from django.conf import settings

from backlog.models import Channel
from backlog.services.imports import GenericOptions
from backlog.services.imports.generic import DEFAULT_SOURCE, MAX_SOURCE_LENGTH
from backlog.services.imports.reading import DELIMITER_CHOICES, ENCODING_CHOICES

# Larger files belong on the command line (manage.py import_orders), which has no upload limit.
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# A date the declared format must be able to write and read back, to catch a format
# without any directive (such as "dd.mm.yyyy") before it fails on every row.
FORMAT_PROBE = datetime(2026, 5, 12, 14, 30)


def max_upload_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="One row per order line; the columns are listed below."
    )
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.all(),
        to_field_name="code",
        required=False,
        label="Default channel",
        empty_label="None: every row names its channel",
        help_text="Used for rows whose channel cell is empty.",
    )
    encoding = forms.ChoiceField(choices=ENCODING_CHOICES.items(), initial="auto", label="Encoding")
    delimiter = forms.ChoiceField(
        choices=DELIMITER_CHOICES.items(), initial="auto", label="Delimiter"
    )
    date_format = forms.CharField(
        required=False,
        max_length=64,
        label="Date format",
        help_text="Empty for ISO 8601 (2026-05-12 or 2026-05-12T14:30); else a strptime format such as %d.%m.%Y %H:%M.",
    )
    source = forms.CharField(
        initial=DEFAULT_SOURCE,
        max_length=MAX_SOURCE_LENGTH,
        label="Source",
        help_text="Entries are matched by source and order reference, so re-imports update them.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = max_upload_bytes()
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file has {upload.size:,} bytes; the upload limit is {limit:,} bytes. "
                "Split it, or import it with manage.py import_orders."
            )
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        return upload

    def clean_date_format(self) -> str:
        date_format = self.cleaned_data["date_format"].strip()
        if not date_format:
            return ""
        if "%" not in date_format:
            raise forms.ValidationError(
                "Invalid date format: it has no directive such as %d or %Y."
            )
        try:
            datetime.strptime(FORMAT_PROBE.strftime(date_format), date_format)
        except ValueError:
            raise forms.ValidationError(
                "Invalid date format: use strptime directives such as %d.%m.%Y %H:%M."
            ) from None
        return date_format

    def generic_options(self) -> GenericOptions:
        channel = self.cleaned_data["channel"]
        return GenericOptions(
            source=self.cleaned_data["source"].strip(),
            channel=channel.code if channel else "",
            encoding=self.cleaned_data["encoding"],
            delimiter=self.cleaned_data["delimiter"],
            date_format=self.cleaned_data["date_format"],
            file_name=self.cleaned_data["file"].name,
        )


class ImportConfirmForm(forms.Form):
    pending = forms.CharField(widget=forms.HiddenInput)
