"""Filters on open backlog entries, shared by the dashboard, the CSV export and the API.

Query parameters: channel (channel code), type (backlog type), stage, owner (user name),
unowned and overdue. The flags are on for 1, true, on or yes and off for 0, false, off, no or
an empty value. Any other value is invalid.
"""

from datetime import datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from .models import BacklogEntry, BacklogType, Channel, Stage
from .selectors import staff_users

FLAG_TRUE_VALUES = frozenset({"1", "true", "on", "yes"})
FLAG_FALSE_VALUES = frozenset({"0", "false", "off", "no", ""})
FILTER_PARAMS = ("channel", "type", "stage", "owner", "unowned", "overdue")
FLAG_PARAMS = ("unowned", "overdue")


class FlagWidget(forms.CheckboxInput):
    """A checkbox whose submitted text goes to FlagField as it is, so FlagField can reject it."""

    def value_from_datadict(self, data, files, name) -> str | None:
        return data.get(name)


class FlagField(forms.NullBooleanField):
    """A yes/no query flag: True or False for the usual spellings, None when it is absent."""

    widget = FlagWidget

    def to_python(self, value) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in FLAG_TRUE_VALUES:
            return True
        if text in FLAG_FALSE_VALUES:
            return False
        raise ValidationError(
            "Invalid flag: expected 1, true, on or yes to switch it on, "
            "or 0, false, off or no to leave it off.",
            code="invalid",
        )


class FlagFilter(django_filters.BooleanFilter):
    field_class = FlagField


class EntryFilter(django_filters.FilterSet):
    """Narrow open entries, oldest first; `now` decides which ETAs count as overdue."""

    channel = django_filters.ModelChoiceFilter(
        queryset=Channel.objects.all(), to_field_name="code", label="Channel"
    )
    type = django_filters.ChoiceFilter(
        field_name="backlog_type", choices=BacklogType.choices, label="Backlog type"
    )
    stage = django_filters.ChoiceFilter(choices=Stage.choices, label="Stage")
    owner = django_filters.ModelChoiceFilter(
        queryset=staff_users(), to_field_name="username", label="Owner"
    )
    unowned = FlagFilter(method="filter_unowned", label="Unowned")
    overdue = FlagFilter(method="filter_overdue", label="ETA passed")

    class Meta:
        model = BacklogEntry
        fields = list(FILTER_PARAMS)

    def __init__(self, data=None, queryset=None, *, now: datetime | None = None, **kwargs) -> None:
        if queryset is None:
            queryset = BacklogEntry.objects.open().order_by("detected_at", "id")
        super().__init__(data, queryset, **kwargs)
        self.now = now or timezone.now()

    def filter_unowned(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        return queryset.filter(owner__isnull=True) if value else queryset

    def filter_overdue(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        return queryset.filter(due_at__lt=self.now) if value else queryset

    @property
    def is_active(self) -> bool:
        """Tell whether a valid filter narrows the entries; an unchecked flag does not.

        `qs` applies only the valid filters, so an invalid value does not count either.
        """
        if not self.is_bound:
            return False
        self.form.is_valid()
        return any(value not in (None, "", False) for value in self.form.cleaned_data.values())

    @property
    def invalid_params(self) -> list[tuple[str, str, str]]:
        """Return (label, submitted value, error text) for each filter parameter that is invalid."""
        if not self.is_bound:
            return []
        return [
            (self.form.fields[name].label, self.data.get(name, ""), " ".join(messages))
            for name, messages in self.form.errors.items()
        ]
