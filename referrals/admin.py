"""Referrals in the admin: the tier table (editable, validated by the same service the rest of
the code uses), ambassadors (staff tier overrides, recorded through `ambassador_set_tier`), and
read-only referrals, tier history and unstakes."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdmin
from ledger.models import Token

from . import services
from .models import Ambassador, CommissionTier, Referral, TierChange, Unstake
from .selectors import STAKE_TOKEN, TIERS


class CommissionTierForm(forms.ModelForm):
    class Meta:
        model = CommissionTier
        fields = ["commission_rate", "stake_threshold"]

    def clean(self):
        cleaned = super().clean()
        rate, threshold = cleaned.get("commission_rate"), cleaned.get("stake_threshold")
        if rate is None or threshold is None or self.instance.pk is None:
            return cleaned
        try:
            services.commission_tier_validate(tier=self.instance, commission_rate=rate, stake_threshold=threshold)
        except ValidationError as error:
            # Field-keyed errors land on their fields; in the changelist they show on the row.
            self.add_error(None, error)
        return cleaned


@admin.register(CommissionTier)
class CommissionTierAdmin(admin.ModelAdmin):
    form = CommissionTierForm
    list_display = ["tier", "commission_rate", "stake_threshold"]
    list_display_links = ["tier"]
    list_editable = ["commission_rate", "stake_threshold"]
    readonly_fields = ["tier"]
    fields = ["tier", "commission_rate", "stake_threshold"]

    def get_changelist_form(self, request, **kwargs):
        return CommissionTierForm

    def save_model(self, request, obj, form, change):
        services.commission_tier_update(
            tier=obj, commission_rate=obj.commission_rate, stake_threshold=obj.stake_threshold, actor=request.user
        )

    # Tiers 1-5 are seeded by a migration; settlement and the staking rules expect all five.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


HISTORY_ROWS = 20
OVERRIDE_CHOICES = [("", "— follows the stake —"), *((str(tier), f"Tier {tier}") for tier in (0, *TIERS))]


class AmbassadorForm(forms.ModelForm):
    tier_override = forms.TypedChoiceField(
        choices=OVERRIDE_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        help_text="A tier staff set whatever the stake; empty: the tier follows the stake.",
    )

    class Meta:
        model = Ambassador
        fields = ["tier_override"]


@admin.register(Ambassador)
class AmbassadorAdmin(admin.ModelAdmin):
    form = AmbassadorForm
    list_display = ["code", "user", "tier_display", "stake_tier", "tier_override", "created_at"]
    list_filter = ["tier_override", "stake_tier"]
    search_fields = ["code", "user__username"]
    list_select_related = ["user"]
    fields = ["code", "user", "stake_tier", "tier_override", "created_at", "tier_history"]
    readonly_fields = ["code", "user", "stake_tier", "created_at", "tier_history"]
    actions = ["clear_override"]

    @admin.display(description="Tier in force")
    def tier_display(self, obj):
        return obj.tier

    @admin.display(description="Latest tier changes")
    def tier_history(self, obj):
        changes = obj.tier_changes.select_related("changed_by")[:HISTORY_ROWS]
        if not changes:
            return "None yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    date_format(change.created_at, "DATETIME_FORMAT"),
                    change.get_cause_display(),
                    change.old_tier,
                    change.new_tier,
                    "—" if change.tier_override is None else change.tier_override,
                    change.changed_by or "—",
                )
                for change in changes
            ),
        )
        link = reverse("admin:referrals_tierchange_changelist") + f"?q={obj.code}"
        return format_html(
            "<table><thead><tr><th>When</th><th>Cause</th><th>Tier</th><th>Override</th><th>By</th></tr></thead>"
            '<tbody>{}</tbody></table><a href="{}">All changes</a>',
            rows,
            link,
        )

    def save_model(self, request, obj, form, change):
        # Only the override is editable, and it changes through the service that records it.
        if "tier_override" in form.changed_data:
            updated = services.ambassador_set_tier(ambassador=obj, tier=obj.tier_override, actor=request.user)
            obj.stake_tier = updated.stake_tier

    @admin.action(description="Clear the tier override (follow the stake again)")
    def clear_override(self, request, queryset):
        cleared = 0
        for ambassador in queryset.exclude(tier_override=None).order_by("pk"):
            services.ambassador_set_tier(ambassador=ambassador, tier=None, actor=request.user)
            cleared += 1
        self.message_user(request, f"Cleared {cleared} override(s).", messages.SUCCESS)

    # Ambassadors are made by `ambassador_create` (the API or the dashboard), never deleted.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    list_display = ["user", "ambassador", "created_at", "self_referral_ring"]

    @admin.display(description="Self-referral ring (no commission)")
    def self_referral_ring(self, referral) -> str:
        from .selectors import referrals_linked

        return referrals_linked([referral]).get(referral.user_id, "")

    search_fields = ["user__username", "ambassador__code", "ambassador__user__username"]
    list_select_related = ["user", "ambassador"]
    date_hierarchy = "created_at"


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "ambassador",
        "cause",
        "old_tier",
        "new_tier",
        "stake_tier",
        "tier_override",
        "changed_by",
    ]
    list_filter = ["cause", "new_tier"]
    search_fields = ["ambassador__code", "ambassador__user__username", "changed_by__username"]
    list_select_related = ["ambassador", "changed_by"]
    date_hierarchy = "created_at"


@admin.register(Unstake)
class UnstakeAdmin(ReadOnlyAdmin):
    list_display = ["id", "ambassador", "amount_display", "status", "created_at", "available_at", "released_at"]
    list_filter = ["status"]
    search_fields = ["ambassador__code", "ambassador__user__username"]
    list_select_related = ["ambassador"]

    @admin.display(description="Amount")
    def amount_display(self, obj):
        return str(Token.objects.get(symbol=STAKE_TOKEN).money(obj.amount))
