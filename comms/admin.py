from django.contrib import admin

from .models import Notification, OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("subject", "recipient", "status", "attempts", "next_attempt_at", "sent_at", "created_at")
    list_filter = ("status",)
    search_fields = ("recipient", "subject", "idempotency_key", "message_id")
    date_hierarchy = "created_at"
    raw_id_fields = ("escalation", "entry")
    # Delivery owns these fields; an edit here would bypass its locks and retry rules.
    readonly_fields = (
        "idempotency_key",
        "message_id",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "sent_at",
        "created_at",
    )


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "escalation", "created_at", "read_at")
    list_filter = ("read_at",)
    search_fields = ("recipient__username", "text")
    raw_id_fields = ("recipient", "escalation")
