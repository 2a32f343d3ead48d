"""Admin for farmer reputation: profiles (read-only scores, a recompute action) and the
history of recomputations (read-only). Scores are never typed in by hand: they follow from
settled work (docs/reputation.md); a wrong score is fixed by reviewing the submission."""

from __future__ import annotations

from django.contrib import admin, messages

from .models import FarmerProfile, ReputationSnapshot
from .services import reputation_recompute


@admin.register(FarmerProfile)
class FarmerProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "reputation", "settled_count", "updated_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    ordering = ("-reputation",)
    readonly_fields = ("user", "reputation", "breakdown", "settled_count", "updated_at")
    actions = ("recompute",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Recompute reputation from settled work")
    def recompute(self, request, queryset):
        for profile in queryset.only("user_id"):
            reputation_recompute(farmer_id=profile.user_id)
        messages.success(request, f"Recomputed {queryset.count()} reputation(s).")


@admin.register(ReputationSnapshot)
class ReputationSnapshotAdmin(admin.ModelAdmin):
    list_display = ("user", "reputation", "last_submission_id", "created_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = ("user", "reputation", "breakdown", "last_submission_id", "inputs_fingerprint", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
