"""The staff audit trail in the admin: read-only (no add, change or delete; the database refuses
updates and deletes too)."""

import json

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html

from .models import StaffAction


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, cls=DjangoJSONEncoder))


@admin.register(StaffAction)
class StaffActionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id", "object_repr", "reason"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor__username", "object_id", "object_repr", "reason"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "before_display",
        "after_display",
        "reason",
    ]
    readonly_fields = fields

    @admin.display(description="Before")
    def before_display(self, obj):
        return _pretty(obj.before)

    @admin.display(description="After")
    def after_display(self, obj):
        return _pretty(obj.after)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
