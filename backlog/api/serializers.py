"""Serializers of the backlog API."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from backlog.models import BacklogEntry, EntryLine, ResolutionMethod

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
