from django.contrib import admin

from .models import BacklogEntry, Channel, EntryLine, ImportRun, ResolutionMethod, Team, TimelineEvent


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "high_impact"]
    list_editable = ["high_impact"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        # Level 3 applies to high-impact channels only, so the channel's clocks are redone.
        # Local import: the triage app builds on backlog.
        from triage.models import EscalationClock

        EscalationClock.objects.filter(entry__channel=obj).delete()


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "manager"]
    filter_horizontal = ["members"]


@admin.register(ResolutionMethod)
class ResolutionMethodAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "active", "position"]
    list_editable = ["active", "position"]


class EntryLineInline(admin.TabularInline):
    model = EntryLine
    extra = 0
    readonly_fields = ["line_number", "sku", "quantity", "category", "seller", "unit_price"]
    can_delete = False


class TimelineEventInline(admin.TabularInline):
    model = TimelineEvent
    extra = 0
    readonly_fields = ["at", "actor", "kind", "changes", "reason"]
    can_delete = False


@admin.register(BacklogEntry)
class BacklogEntryAdmin(admin.ModelAdmin):
    """Read-only view of entries: changes go through the dashboard and the API, which log them."""

    list_display = ["reference", "source", "external_ref", "channel", "stage", "status", "backlog_type", "owner"]
    list_filter = ["status", "backlog_type", "stage", "channel"]
    search_fields = ["external_ref", "customer_name", "customer_email"]
    list_select_related = ["channel", "owner"]
    inlines = [EntryLineInline, TimelineEventInline]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "file_format", "file_name", "source", "dry_run", "created", "updated", "unchanged"]
    readonly_fields = [field.name for field in ImportRun._meta.fields]
