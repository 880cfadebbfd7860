"""Backlog API: read entries and record triage decisions."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from backlog.models import BacklogEntry
from backlog.permissions import CanTriageOrReadOnly
from backlog.services.entries import EntryClosedError, StaleEntryError, TriageDecision, entry_decide

from .serializers import EntryDecisionSerializer, EntrySerializer


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class EntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Backlog entries, oldest first, in keyset pages."""

    serializer_class = EntrySerializer
    permission_classes = [CanTriageOrReadOnly]
    # PATCH records a triage decision; there is no PUT because most fields come from intake.
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return BacklogEntry.objects.select_related(
            "channel", "owner", "resolution_method"
        ).prefetch_related("lines")

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
        serializer = EntryDecisionSerializer(data=request.data)
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
                now=timezone.now(),
            )
        except (StaleEntryError, EntryClosedError) as error:
            raise Conflict(str(error)) from error

        return Response(EntrySerializer(self.get_queryset().get(pk=entry.pk)).data)
