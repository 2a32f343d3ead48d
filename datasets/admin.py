"""Exports and alerts in the admin: read-only, as the pools rows they describe."""

from django.contrib import admin

from pools.admin import ViewOnlyMixin

from .models import Alert, Export


@admin.register(Export)
class ExportAdmin(ViewOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "factory", "requested_by", "status", "progress", "count", "created_at"]
    list_filter = ["status"]
    search_fields = ["factory__title", "requested_by__username"]
    list_select_related = ["factory", "requested_by"]


@admin.register(Alert)
class AlertAdmin(ViewOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "user", "kind", "title", "factory", "created_at", "emailed_at", "read_at", "resolved_at"]
    list_filter = ["kind"]
    search_fields = ["user__username", "title"]
    list_select_related = ["user", "factory"]
