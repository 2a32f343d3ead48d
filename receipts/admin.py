from django.contrib import admin

from .models import Receipt, ReceiptBatch


@admin.register(ReceiptBatch)
class ReceiptBatchAdmin(admin.ModelAdmin):
    list_display = ("hour", "count", "root", "published_at")
    readonly_fields = [f.name for f in ReceiptBatch._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Receipt)
class ReceiptAdmin(admin.ModelAdmin):
    list_display = ("submission", "farmer", "factory_id_value", "created_at", "batch", "position")
    raw_id_fields = ("submission", "farmer", "batch")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
