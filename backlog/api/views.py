"""Backlog API: read entries and record triage decisions."""

from django.db import IntegrityError
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backlog.models import BacklogEntry
from backlog.filters import EntryFilter
from backlog.forms.imports import ImportUploadForm
from backlog.permissions import CanImport, CanTriageOrReadOnly
from backlog.services.imports import entries_upsert, import_generic
from backlog.services.imports.generic import DEFAULT_SOURCE
from backlog.services.entries import (
    EntryClosedError,
    InvalidDecisionError,
    StaleEntryError,
    TriageDecision,
    entry_decide,
    entry_set_status,
)

from .serializers import (
    EntryDecisionSerializer,
    EntrySerializer,
    ImportResultSerializer,
    IntakeSerializer,
    StatusChangeSerializer,
)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class EntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Backlog entries, oldest first, in keyset pages. POST takes in an order and PATCH a decision."""

    serializer_class = EntrySerializer
    permission_classes = [CanTriageOrReadOnly]
    filterset_class = EntryFilter
    # There is no PUT, because most fields come from intake and only PATCH's decision fields are staff's.
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        entries = BacklogEntry.objects.select_related("channel", "owner", "resolution_method")
        if self.action == "list":
            # The list is the live backlog, read through the partial indexes on open entries;
            # a closed entry is still reachable by its id.
            entries = entries.open()
        return entries.prefetch_related("lines")

    @extend_schema(
        request=IntakeSerializer,
        responses={201: EntrySerializer, 200: EntrySerializer},
    )
    def create(self, request: Request) -> Response:
        """Create or update the entry of one order, matched by source and external reference."""
        serializer = IntakeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = serializer.validated_data["source"]
        row = serializer.entry_row()

        try:
            counts = entries_upsert(
                [row], source=source, actor=request.user, now=timezone.now(), reason="Received through the API."
            )
        except IntegrityError as error:
            raise Conflict("Another request created this entry at the same time. Send it again.") from error

        entry = self.get_queryset().get(source=source, external_ref=row.external_ref)
        status_code = status.HTTP_201_CREATED if counts.created else status.HTTP_200_OK
        return Response(EntrySerializer(entry).data, status=status_code)

    @extend_schema(
        request=EntryDecisionSerializer,
        responses={
            200: EntrySerializer,
            409: OpenApiResponse(description="The entry changed since the given version, or is closed."),
        },
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Set owner, resolution method, ETA or note, rejecting a stale version."""
        entry = self.get_object()
        now = timezone.now()
        serializer = EntryDecisionSerializer(data=request.data, context={"entry": entry, "now": now})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        decision = TriageDecision(
            **{name: data[name] for name in ("owner", "resolution_method", "due_at", "note") if name in data},
            reason=data.get("reason", ""),
        )
        try:
            entry = entry_decide(
                entry_id=entry.pk,
                expected_version=data["version"],
                decision=decision,
                actor=request.user,
                now=now,
            )
        except (StaleEntryError, EntryClosedError) as error:
            raise Conflict(str(error)) from error
        except InvalidDecisionError as error:
            raise ValidationError({error.field: [str(error)]}) from error

        return Response(EntrySerializer(self.get_queryset().get(pk=entry.pk)).data)


    @extend_schema(
        request=StatusChangeSerializer,
        responses={200: EntrySerializer, 409: OpenApiResponse(description="The entry changed since the given version.")},
    )
    @action(detail=True, methods=["post"], url_path="status")
    def change_status(self, request: Request, pk: str | None = None) -> Response:
        """Put the entry on hold, resolve, close or reopen it, as the entry page does."""
        entry = self.get_object()
        serializer = StatusChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        try:
            entry_set_status(
                entry_id=entry.pk,
                expected_version=data["version"],
                status=data["status"],
                actor=request.user,
                now=timezone.now(),
                reason=data["reason"],
            )
        except StaleEntryError as error:
            raise Conflict(str(error)) from error

        return Response(EntrySerializer(self.get_queryset().get(pk=entry.pk)).data)


class ImportView(APIView):
    """Import a generic CSV file, or with dry_run=true only report what it would do."""

    permission_classes = [CanImport]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"},
            "channel": {"type": "string"},
            "encoding": {"type": "string", "enum": ["auto", "utf-8", "cp1252"]},
            "delimiter": {"type": "string"},
            "date_format": {"type": "string"},
            "source": {"type": "string"},
            "dry_run": {"type": "boolean"},
        }, "required": ["file"]}},
        responses={
            200: ImportResultSerializer,
            400: OpenApiResponse(ImportResultSerializer, description="Invalid options or rows. Nothing was written."),
        },
    )
    def post(self, request: Request) -> Response:
        # The upload page's form validates the options, with the page's defaults filled in.
        options = {"encoding": "auto", "delimiter": "auto", "source": DEFAULT_SOURCE, **request.data.dict()}
        form = ImportUploadForm(options, request.FILES)
        if not form.is_valid():
            return Response(form.errors.get_json_data(), status=status.HTTP_400_BAD_REQUEST)
        dry_run = str(request.data.get("dry_run", "")).strip().lower() in {"1", "true", "yes", "on"}

        report = import_generic(
            form.cleaned_data["file"].read(),
            options=form.generic_options(),
            actor=request.user,
            now=timezone.now(),
            dry_run=dry_run,
        )
        status_code = status.HTTP_200_OK if report.ok else status.HTTP_400_BAD_REQUEST
        return Response(ImportResultSerializer(report).data, status=status_code)
