"""The inline form a lead uses to set an entry's owner, resolution method and ETA."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from backlog.models import BacklogEntry, ResolutionMethod
from backlog.selectors import staff_users
from backlog.services.entries import TriageDecision, past_eta_problem

User = get_user_model()

# The value format of <input type="datetime-local">, without seconds.
LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"
DECISION_FIELDS = ("owner", "resolution_method", "due_at")

NONEXISTENT_TIME_MESSAGE = (
    "%(value)s does not exist in %(zone)s because the clocks skip that hour. "
    "Pick a time after the change."
)
AMBIGUOUS_TIME_MESSAGE = (
    "%(value)s happens twice in %(zone)s because the clocks go back. "
    "Pick a time outside that hour."
)


def site_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_time_to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """Read a wall-clock time in `zone` as an aware datetime.

    Raise ValidationError for a time that the DST change skips or repeats, because
    guessing either side would move the ETA by an hour without the lead noticing.
    """
    earlier = naive.replace(tzinfo=zone, fold=0)
    later = naive.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() != later.utcoffset():
        params = {"value": naive.strftime("%Y-%m-%d %H:%M"), "zone": zone.key}
        round_trip = earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip != naive:
            raise forms.ValidationError(NONEXISTENT_TIME_MESSAGE, code="nonexistent", params=params)
        raise forms.ValidationError(AMBIGUOUS_TIME_MESSAGE, code="ambiguous", params=params)
    return timezone.make_aware(naive, zone)


class SiteDateTimeField(forms.DateTimeField):
    """A datetime-local input read as wall-clock time in the site's zone."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT_FORMAT)
    input_formats = [LOCAL_INPUT_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        for input_format in self.input_formats:
            try:
                naive = datetime.strptime(text, input_format)
            except ValueError:
                continue
            return local_time_to_utc(naive, site_zone())
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class DecisionForm(forms.Form):
    """Owner, method and ETA of one entry, plus the version the user loaded.

    A field missing from the submitted data stays as it is; a field submitted empty is
    cleared. The current owner and method stay valid choices after the owner lost their
    role or the method was retired, so saving an unrelated field does not fail on them.
    """

    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    resolution_method = forms.ModelChoiceField(
        queryset=ResolutionMethod.objects.none(), required=False, label="Method"
    )
    due_at = SiteDateTimeField(required=False, label="ETA")
    reason = forms.CharField(required=False, max_length=500, label="Why")
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def __init__(self, data, *, entry: BacklogEntry, now: datetime) -> None:
        super().__init__(data, prefix=None)
        self.entry = entry
        self.now = now
        self.fields["owner"].queryset = User.objects.filter(
            Q(pk__in=staff_users().values("pk")) | Q(pk=entry.owner_id)
        )
        self.fields["resolution_method"].queryset = ResolutionMethod.objects.filter(
            Q(active=True) | Q(pk=entry.resolution_method_id)
        )

    def clean_due_at(self) -> datetime | None:
        value = self.cleaned_data["due_at"]
        current = self.entry.due_at
        # The input shows whole minutes, so an ETA stored with seconds comes back truncated;
        # the same minute means the lead left it alone.
        if value is not None and current is not None and _same_minute(value, current):
            return current
        problem = past_eta_problem(value, current=current, now=self.now)
        if problem:
            raise forms.ValidationError(problem, code="past")
        return value

    def decision(self) -> TriageDecision:
        """Return the decision of the submitted fields; call only after is_valid()."""
        submitted = {name: self.cleaned_data[name] for name in DECISION_FIELDS if name in self.data}
        return TriageDecision(**submitted, reason=self.cleaned_data["reason"])


def _same_minute(first: datetime, second: datetime) -> bool:
    return first.replace(second=0, microsecond=0) == second.replace(second=0, microsecond=0)
