"""Serializers of the backlog API."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from backlog.models import BacklogEntry, Channel, EntryLine, ResolutionMethod, Stage
from backlog.services.imports import EntryRow, LineRow

User = get_user_model()


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
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="User name of the new owner, or null to unassign.",
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

    def validate(self, attrs: dict) -> dict:
        if not set(attrs) & {"owner", "resolution_method", "due_at", "note"}:
            raise serializers.ValidationError(
                "Nothing to change: send at least one of owner, resolution_method, due_at or note."
            )
        return attrs


class IntakeLineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, default=1)
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
