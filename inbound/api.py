"""Contacts API: log a customer contact on an entry and list an entry's contacts."""

from django.utils import timezone
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.models import BacklogEntry, format_reference, parse_reference
from backlog.permissions import HasStaffRole

from .models import ContactChannel, InboundContact
from .services import ContactRejected, contact_log


class ContactCursorPagination(CursorPagination):
    ordering = ("received_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class EntryField(serializers.Field):
    """An entry given by its id (123) or its reference (BL-000123), returned as the entry's id."""

    default_error_messages = {
        "invalid": "Expected an entry id such as 123 or a reference such as BL-000123, got {value!r}.",
        "not_found": "No backlog entry has the id {pk}.",
    }

    def to_internal_value(self, data) -> int:
        text = str(data).strip()
        pk = int(text) if text.isdigit() else parse_reference(text)
        if pk is None:
            self.fail("invalid", value=data)
        if not BacklogEntry.objects.filter(pk=pk).exists():
            self.fail("not_found", pk=pk)
        return pk

    def to_representation(self, value) -> int:
        return value


class ContactSerializer(serializers.ModelSerializer):
    entry = EntryField(source="entry_id")
    entry_reference = serializers.SerializerMethodField()
    channel = serializers.ChoiceField(choices=ContactChannel.choices)
    note = serializers.CharField(allow_blank=True, required=False, default="", trim_whitespace=False)
    received_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    logged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = InboundContact
        fields = [
            "id",
            "entry",
            "entry_reference",
            "channel",
            "received_at",
            "note",
            "logged_by",
            "source",
            "external_ref",
            "created_at",
        ]
        read_only_fields = ["source", "external_ref", "created_at"]

    def get_entry_reference(self, contact: InboundContact) -> str:
        return format_reference(contact.entry_id)


class ContactViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Customer contacts, oldest first. Every role may log and read; filter with ?entry=<id>."""

    serializer_class = ContactSerializer
    permission_classes = [HasStaffRole]
    pagination_class = ContactCursorPagination
    filter_backends = []

    def get_queryset(self):
        contacts = InboundContact.objects.select_related("logged_by")
        entry = self.request.query_params.get("entry")
        if entry is not None:
            contacts = contacts.filter(entry_id=EntryField().to_internal_value(entry))
        return contacts

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        now = timezone.now()
        try:
            contact = contact_log(
                entry_id=data["entry_id"],
                channel=data["channel"],
                note=data["note"],
                received_at=data.get("received_at") or now,
                actor=request.user,
                now=now,
            )
        except ContactRejected as exc:
            raise ValidationError({"received_at": [str(exc)]}) from exc
        return Response(self.get_serializer(contact).data, status=201)
