from django.contrib import admin

from .models import InboundContact


@admin.register(InboundContact)
class InboundContactAdmin(admin.ModelAdmin):
    list_display = ["received_at", "entry", "channel", "logged_by", "source"]
    list_filter = ["channel", "source"]
    search_fields = ["external_ref", "note"]
    raw_id_fields = ["entry", "logged_by"]
    date_hierarchy = "received_at"
