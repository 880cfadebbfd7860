from django.contrib import admin

from .models import CycleItem, Shift, TriageCycle


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
