"""Serializers of the backlog API."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from rest_framework import serializers

from backlog.models import BacklogEntry, Channel, EntryLine, ResolutionMethod, Stage, Status
from backlog.selectors import staff_users
from backlog.services.entries import past_eta_problem
from backlog.services.imports import EntryRow, LineRow

class EntryLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = EntryLine
        fields = ["line_number", "sku", "quantity", "category", "seller", "unit_price"]


class EntrySerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    resolution_method = serializers.SlugRelatedField(slug_field="code", read_only=True)
    lines = EntryLineSerializer(many=True, read_only=True)

    class Meta:
        model = BacklogEntry
        fields = [
            "id",
            "reference",
            "source",
            "external_ref",
            "channel",
            "customer_name",
            "customer_email",
            "region",
            "stage",
            "status",
            "backlog_type",
            "classification_reasons",
            "owner",
            "resolution_method",
            "due_at",
            "escalation_level",
            "ordered_at",
            "approved_at",
            "handed_over_at",
            "delivered_at",
            "handover_due_at",
            "promised_at",
            "detected_at",
            "closed_at",
            "version",
            "lines",
        ]
        read_only_fields = fields


class EntryDecisionSerializer(serializers.Serializer):
    """A triage decision: any of owner, resolution method, ETA and note, plus the version read."""

    version = serializers.IntegerField(
        min_value=1, help_text="The entry's version when you read it; a stale version gets 409."
    )
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=staff_users(),
        required=False,
        allow_null=True,
        help_text="User name of the new owner, who must hold a Triage Desk role, or null to unassign.",
    )
    resolution_method = serializers.SlugRelatedField(
        slug_field="code",
        queryset=ResolutionMethod.objects.filter(active=True),
        required=False,
        allow_null=True,
    )
    due_at = serializers.DateTimeField(required=False, allow_null=True, help_text="ETA, ISO 8601.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)

    def validate_due_at(self, value: datetime | None) -> datetime | None:
        """Reject a new ETA in the past, as the dashboard does; an unchanged one may have passed."""
        problem = past_eta_problem(value, current=self.context["entry"].due_at, now=self.context["now"])
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate(self, attrs: dict) -> dict:
        if not set(attrs) & {"owner", "resolution_method", "due_at", "note"}:
            raise serializers.ValidationError(
                "Nothing to change: send at least one of owner, resolution_method, due_at or note."
            )
        return attrs


# The largest value PostgreSQL's integer column behind EntryLine.quantity stores.
MAX_QUANTITY = 2_147_483_647
# Order times before this are typing errors, and would also leave the demand baselines'
# date arithmetic.
EARLIEST_ORDER_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# How far an order time may lie in the future, for clocks that run slightly ahead.
CLOCK_SKEW = timedelta(minutes=15)
PROGRESS_FIELDS = ("approved_at", "handed_over_at", "delivered_at")


class IntakeLineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)
    category = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    seller = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    unit_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True, default=None
    )


class IntakeSerializer(serializers.Serializer):
    """One order as an upstream system sends it; re-sending it updates the same entry."""

    source = serializers.SlugField(max_length=40, help_text="The sending system, such as web-shop.")
    external_ref = serializers.CharField(max_length=100, help_text="The order's id in that system.")
    channel = serializers.SlugRelatedField(slug_field="code", queryset=Channel.objects.all())
    customer_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    customer_email = serializers.EmailField(required=False, allow_blank=True)
    region = serializers.CharField(max_length=64, required=False, allow_blank=True)
    ordered_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(required=False, allow_null=True)
    handed_over_at = serializers.DateTimeField(required=False, allow_null=True)
    delivered_at = serializers.DateTimeField(required=False, allow_null=True)
    handover_due_at = serializers.DateTimeField(required=False, allow_null=True)
    promised_at = serializers.DateTimeField(required=False, allow_null=True)
    stage = serializers.ChoiceField(
        choices=Stage.choices, required=False, help_text="Derived from the timestamps when omitted."
    )
    items_unavailable = serializers.BooleanField(required=False)
    lines = IntakeLineSerializer(many=True, required=False)

    def validate_ordered_at(self, value: datetime) -> datetime:
        if value < EARLIEST_ORDER_TIME:
            raise serializers.ValidationError(f"The order time {value.isoformat()} is before 1970. Check the year.")
        if value > timezone.now() + CLOCK_SKEW:
            raise serializers.ValidationError(
                f"The order time {value.isoformat()} is in the future. Send the time the order was placed."
            )
        return value

    def validate(self, attrs: dict) -> dict:
        """Check that no progress time comes before the order, nor delivery before hand-over.

        Approval and hand-over are not compared with each other, because real marketplace data
        records some carrier hand-overs before the payment approval.
        """
        errors = {}
        ordered_at = attrs["ordered_at"]
        for name in PROGRESS_FIELDS:
            moment = attrs.get(name)
            if moment is not None and moment < ordered_at:
                errors[name] = f"{moment.isoformat()} is before ordered_at ({ordered_at.isoformat()})."
        handed_over_at, delivered_at = attrs.get("handed_over_at"), attrs.get("delivered_at")
        if handed_over_at and delivered_at and delivered_at < handed_over_at and "delivered_at" not in errors:
            errors["delivered_at"] = f"{delivered_at.isoformat()} is before handed_over_at ({handed_over_at.isoformat()})."
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def validate_lines(self, lines: list[dict]) -> list[dict]:
        skus = [line["sku"] for line in lines]
        duplicates = sorted({sku for sku in skus if skus.count(sku) > 1})
        if duplicates:
            raise serializers.ValidationError(f"SKU listed more than once: {', '.join(duplicates)}.")
        return lines

    def entry_row(self) -> EntryRow:
        """Turn the validated order into the row the import writer takes.

        Fields the request omits are not in the row, so an update keeps their stored values.
        """
        data = dict(self.validated_data)
        values = {name: value for name, value in data.items() if name not in INTAKE_NON_FIELDS}
        values["channel_id"] = data["channel"].pk
        lines = None
        if "lines" in data:
            lines = [LineRow(**line) for line in data["lines"]]
        return EntryRow(external_ref=data["external_ref"], values=values, lines=lines)


# Request keys that are not entry fields of the same name.
INTAKE_NON_FIELDS = ("source", "external_ref", "channel", "lines")


class ImportResultSerializer(serializers.Serializer):
    """The outcome of a file import: counts, or the errors that stopped it."""

    dry_run = serializers.BooleanField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    encoding = serializers.CharField()
    delimiter = serializers.CharField()
    ignored_columns = serializers.ListField(child=serializers.CharField())
    errors = serializers.SerializerMethodField()
    errors_not_listed = serializers.IntegerField()

    def get_errors(self, report) -> list[dict]:
        return report.errors_as_json()


class StatusChangeSerializer(serializers.Serializer):
    """A move to another status, with the version read and a reason for the timeline."""

    version = serializers.IntegerField(min_value=1)
    status = serializers.ChoiceField(choices=Status.choices)
    reason = serializers.CharField(max_length=500)
