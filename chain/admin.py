"""Wallets in the admin, read-only: a link is made only by the owner's signature (the proof is
kept on the row), so staff may look but not add or edit. Nonces are not listed."""

from django.contrib import admin

from .models import Wallet


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("address", "chain", "user", "verified_at", "usable_from", "unlinked_at")
    list_filter = ("chain",)
    search_fields = ("address", "user__username")
    readonly_fields = [field.name for field in Wallet._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
