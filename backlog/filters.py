"""Filters on open backlog entries, shared by the dashboard, the CSV export and the API.

Query parameters: channel (channel code), type (backlog type), stage, owner (user name),
unowned and overdue (flags: 1, true, on or yes switch them on).
"""

from datetime import datetime

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from .models import BacklogEntry, BacklogType, Channel, Stage
from .selectors import staff_users

FLAG_TRUE_VALUES = frozenset({"1", "true", "on", "yes"})
FILTER_PARAMS = ("channel", "type", "stage", "owner", "unowned", "overdue")


class FlagWidget(forms.CheckboxInput):
    """A checkbox that reads only the usual spellings of "on" as true, so ?overdue=0 is off."""

    def value_from_datadict(self, data, files, name) -> bool | None:
        value = data.get(name)
        if value is None:
            return None
        return str(value).strip().lower() in FLAG_TRUE_VALUES


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
    unowned = django_filters.BooleanFilter(method="filter_unowned", widget=FlagWidget, label="Unowned")
    overdue = django_filters.BooleanFilter(
        method="filter_overdue", widget=FlagWidget, label="ETA passed"
    )

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
        """Tell whether any filter is set; an unchecked flag is not, an invalid value is."""
        if not self.is_bound:
            return False
        if self.form.errors:
            return True
        return any(value not in (None, "", False) for value in self.form.cleaned_data.values())
