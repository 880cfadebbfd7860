from django.contrib import admin

from .models import (
    CapacityFlag,
    CycleItem,
    Escalation,
    EscalationClock,
    EscalationPolicy,
    Shift,
    SlaCalendar,
    TriageCycle,
)


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ["name", "starts_at", "ends_at", "lead", "support"]


class CycleItemInline(admin.TabularInline):
    model = CycleItem
    extra = 0
    raw_id_fields = ["entry"]
    readonly_fields = ["entry", "position", "reasons", "decided_at"]
    can_delete = False


@admin.register(TriageCycle)
class TriageCycleAdmin(admin.ModelAdmin):
    list_display = ["slot_start", "status", "lead", "support", "batch_size", "finished_at"]
    inlines = [CycleItemInline]

    def has_add_permission(self, request) -> bool:
        return False


class ForgetsClocksAdmin(admin.ModelAdmin):
    """Admin whose saves and deletes can move due times, so every clock is computed again."""

    # NOTE: the sweep recomputes 5,000 clocks per run, so a large backlog catches up over
    # several sweeps after such an edit.
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        EscalationClock.objects.all().delete()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        EscalationClock.objects.all().delete()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        EscalationClock.objects.all().delete()


@admin.register(SlaCalendar)
class SlaCalendarAdmin(ForgetsClocksAdmin):
    list_display = ["name"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(ForgetsClocksAdmin):
    list_display = ["name", "backlog_type", "channel", "calendar", "level1_minutes", "level2_minutes", "level3_minutes", "active"]
    list_filter = ["active", "backlog_type", "channel"]


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ["entry", "level", "due_at", "fired_at", "status"]
    list_filter = ["level", "status"]
    raw_id_fields = ["entry"]
    readonly_fields = ["entry", "level", "due_at", "fired_at", "policy"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(CapacityFlag)
class CapacityFlagAdmin(admin.ModelAdmin):
    """Read-only: flags are raised by the sweep and resolved with a note on the review screen."""

    list_display = ["team", "level", "misses", "window_start", "window_end", "created_at", "resolved_at"]
    list_filter = ["level", "team"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
