"""Forms of the escalation review: its filters and the manager's actions on one escalation."""

from datetime import datetime

from django import forms
from django.contrib.auth import get_user_model

from backlog.forms.decisions import SiteDateTimeField
from backlog.services.entries import past_eta_problem
from backlog.models import Channel, Team
from backlog.selectors import staff_users
from triage.models import Escalation
from triage.selectors import ESCALATION_SORTS

User = get_user_model()

# The status filter's choices, each with the escalation statuses it shows.
STATUS_FILTERS = {
    "unresolved": (Escalation.Status.OPEN, Escalation.Status.ACKNOWLEDGED),
    "open": (Escalation.Status.OPEN,),
    "acknowledged": (Escalation.Status.ACKNOWLEDGED,),
    "resolved": (Escalation.Status.RESOLVED,),
}
SORT_LABELS = {"level": "Level, highest first", "age": "Age, oldest first", "team": "Team", "fired": "Fired, newest first"}


class EscalationFilterForm(forms.Form):
    """The review screen's filters. Every field is optional, and an invalid one is dropped with a note."""

    level = forms.TypedChoiceField(choices=[(1, "1"), (2, "2"), (3, "3")], coerce=int, required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    channel = forms.ModelChoiceField(queryset=Channel.objects.all(), to_field_name="code", required=False)
    status = forms.ChoiceField(choices=[(key, key) for key in STATUS_FILTERS], required=False)
    sort = forms.ChoiceField(choices=[(key, key) for key in ESCALATION_SORTS], required=False)

    def applied(self) -> dict:
        """Return the valid filter values, with defaults for the missing or invalid ones."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        values = {name: cleaned.get(name) for name in self.fields if name not in self.errors}
        team, channel = values.get("team"), values.get("channel")
        return {
            "level": values.get("level") or None,
            "team_id": team.pk if team else None,
            "channel_code": channel.code if channel else None,
            "status": values.get("status") or "unresolved",
            "sort": values.get("sort") or "level",
        }


class NoteForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000, label="Note")


class CommentForm(forms.Form):
    body = forms.CharField(max_length=4000, label="Comment", strip=True)


class ReassignForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=User.objects.none(), label="Owner")
    reason = forms.CharField(required=False, max_length=500, label="Why")
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def __init__(self, data) -> None:
        super().__init__(data)
        self.fields["owner"].queryset = staff_users()


class EtaForm(forms.Form):
    due_at = SiteDateTimeField(label="ETA")
    reason = forms.CharField(required=False, max_length=500, label="Why")
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def __init__(self, data, *, now: datetime) -> None:
        super().__init__(data)
        self.now = now

    def clean_due_at(self) -> datetime:
        value = self.cleaned_data["due_at"]
        problem = past_eta_problem(value, current=None, now=self.now)
        if problem:
            raise forms.ValidationError(problem, code="past")
        return value


class FlagResolveForm(forms.Form):
    note = forms.CharField(max_length=2000, label="What changed", strip=True)


def form_problems(form: forms.Form) -> str:
    """Join a form's errors into one sentence list such as "ETA: This field is required."."""
    return " ".join(
        f"{form.fields[name].label if name in form.fields else ''}: {' '.join(errors)}".lstrip(": ")
        for name, errors in form.errors.items()
    )
