from rest_framework.pagination import CursorPagination


class EntryCursorPagination(CursorPagination):
    """Keyset pages ordered oldest first, so deep pages cost the same as the first."""

    ordering = ("detected_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
