"""Factories, pools, deposits, claims and submissions for staff.

Money rows are never edited or deleted here: every amount is the record of a ledger posting,
and corrections go through the services (which post reversing or adjusting transactions).
Staff act through admin actions that call the same services as the API (deposit_confirm,
deposit_reject). The economics settings are a single row, saved through
`economics_config_update` (validated against the referral tiers, audited).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from core.exceptions import ApplicationError
from referrals.models import CommissionTier
from referrals.services import commission_rates_validate

from .models import Claim, Deposit, EconomicsConfig, Factory, RateChange, Submission
from .selectors import economics_config, pool_summary
from .services.deposits import deposit_confirm, deposit_reject
from .services.economics import ECONOMICS_FIELDS, economics_config_update
from .services.factories import factory_force_close


def _money(units, token) -> str:
    return "—" if units is None else str(token.money(units))


class NoDeleteMixin:
    """Money rows stay: deleting one would orphan its ledger transaction."""

    def has_delete_permission(self, request, obj=None):
        return False


class ViewOnlyMixin(NoDeleteMixin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RateChangeInline(ViewOnlyMixin, admin.TabularInline):
    model = RateChange
    fields = ["created_at", "old_reward_display", "new_reward_display", "changed_by"]
    readonly_fields = fields
    extra = 0

    def _token(self, obj):
        return obj.factory.token

    @admin.display(description="Old reward")
    def old_reward_display(self, obj):
        return _money(obj.old_reward, self._token(obj))

    @admin.display(description="New reward")
    def new_reward_display(self, obj):
        return _money(obj.new_reward, self._token(obj))


class ForceCloseForm(forms.Form):
    reason = forms.CharField(
        max_length=500, label="Reason (kept in the audit trail)", widget=forms.TextInput(attrs={"size": 60})
    )


@admin.register(Factory)
class FactoryAdmin(ViewOnlyMixin, admin.ModelAdmin):
    """Read-only: creators edit their factories (and change rates) through the pages and API,
    where the services keep the rate history and the pool consistent."""

    list_display = ["title", "creator", "token", "reward_display", "status", "progress", "created_at"]
    list_filter = ["status", "token"]
    search_fields = ["title", "creator__username"]
    list_select_related = ["creator", "token"]
    date_hierarchy = "created_at"
    inlines = [RateChangeInline]
    actions = ["force_close_selected"]
    readonly_fields = [
        "pool_display",
        "available_account",
        "reserved_account",
        "returned_to_creator_display",
        "in_flight_count",
        "accepted_count",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "title",
                    "creator",
                    "status",
                    "description",
                    "instructions",
                    "category",
                    "tags",
                    "created_at",
                    "closed_at",
                ]
            },
        ),
        (
            "Terms",
            {
                "fields": [
                    "token",
                    "reward_display",
                    "target_count",
                    "expected_minutes",
                    "claim_timeout_minutes",
                    "per_farmer_limit",
                    "per_farmer_daily_limit",
                    "min_reputation",
                    "allow_list_only",
                    "qualification_factory",
                ]
            },
        ),
        (
            "Pool",
            {
                "fields": [
                    "pool_display",
                    "available_account",
                    "reserved_account",
                    "returned_to_creator_display",
                    "in_flight_count",
                    "accepted_count",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("token", "available_account", "reserved_account")

    @admin.display(description="Reward", ordering="reward")
    def reward_display(self, obj):
        return _money(obj.reward, obj.token)

    @admin.display(description="Accepted / target")
    def progress(self, obj):
        return f"{obj.accepted_count} / {obj.target_count if obj.target_count is not None else 'open'}"

    @admin.display(description="Returned to creator")
    def returned_to_creator_display(self, obj):
        return _money(obj.returned_to_creator, obj.token)

    @admin.action(description="Force-close selected factories (asks for a reason)")
    def force_close_selected(self, request, queryset):
        """Staff close factories through `factory_force_close` (recorded in the audit trail)."""
        factories = list(queryset.exclude(status=Factory.Status.CLOSED).select_related("creator").order_by("pk"))
        if not factories:
            self.message_user(request, "The selected factories are already closed.", messages.INFO)
            return None
        form = ForceCloseForm(request.POST if "apply" in request.POST else None)
        if "apply" not in request.POST or not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Force-close factories",
                "opts": self.model._meta,
                "factories": factories,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/pools/factory/force_close.html", context)
        for factory in factories:
            try:
                factory_force_close(factory=factory, actor=request.user, reason=form.cleaned_data["reason"])
            except (ApplicationError, ValidationError) as error:
                text = error.message if isinstance(error, ApplicationError) else " ".join(error.messages)
                self.message_user(request, f"Factory {factory.pk}: {text}", messages.ERROR)
            else:
                self.message_user(request, f"Factory {factory.pk} ({factory.title}) closed.", messages.SUCCESS)
        return None

    @admin.display(description="Pool")
    def pool_display(self, obj):
        summary = pool_summary(obj)
        return (
            f"deposited {_money(summary.deposited, obj.token)}, available {_money(summary.available, obj.token)}, "
            f"reserved {_money(summary.reserved, obj.token)}, paid out {_money(summary.paid_out, obj.token)}, "
            f"refunded {_money(summary.refunded, obj.token)}"
        )


@admin.register(Deposit)
class DepositAdmin(ViewOnlyMixin, admin.ModelAdmin):
    """Deposits are recorded by their creator (API or page); staff confirm or reject them."""

    list_display = ["id", "factory", "amount_display", "tx_ref", "status", "created_by", "created_at", "confirmed_by"]
    list_filter = ["status", "token"]
    search_fields = ["tx_ref", "factory__title", "created_by__username"]
    list_select_related = ["factory", "token", "created_by", "confirmed_by"]
    date_hierarchy = "created_at"
    actions = ["confirm_selected", "reject_selected"]
    fields = [
        "factory",
        "token",
        "amount_display",
        "tx_ref",
        "status",
        "created_by",
        "created_at",
        "confirmed_by",
        "confirmed_at",
        "ledger_transaction",
    ]
    readonly_fields = ["amount_display"]

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj):
        return _money(obj.amount, obj.token)

    def _apply(self, request, queryset, service, verb: str):
        # One deposit at a time, each in its own transaction: one refusal does not undo the others.
        for deposit in queryset.select_related("token").order_by("pk"):
            label = f"Deposit {deposit.pk} ({_money(deposit.amount, deposit.token)}, {deposit.tx_ref})"
            try:
                before = deposit.status
                deposit = service(deposit=deposit, actor=request.user)
            except ApplicationError as error:
                self.message_user(request, f"{label}: {error.message}", messages.ERROR)
                continue
            if before == deposit.status:
                self.message_user(request, f"{label} was already {deposit.status}.", messages.INFO)
            else:
                self.message_user(request, f"{label} {verb}.", messages.SUCCESS)

    @admin.action(description="Confirm selected deposits")
    def confirm_selected(self, request, queryset):
        self._apply(request, queryset, deposit_confirm, "confirmed and credited to its pool")

    @admin.action(description="Reject selected deposits")
    def reject_selected(self, request, queryset):
        self._apply(request, queryset, deposit_reject, "rejected")


@admin.register(Claim)
class ClaimAdmin(ViewOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "factory", "farmer", "reward_display", "status", "created_at", "expires_at", "closed_at"]
    list_filter = ["status", "factory__token"]
    search_fields = ["farmer__username", "factory__title"]
    list_select_related = ["factory__token", "farmer"]
    date_hierarchy = "created_at"
    fields = ["factory", "farmer", "reward_display", "status", "created_at", "expires_at", "closed_at"]
    readonly_fields = ["reward_display"]

    @admin.display(description="Reward", ordering="reward")
    def reward_display(self, obj):
        return _money(obj.reward, obj.factory.token)


SUBMISSION_MONEY = [
    "gross_payout",
    "platform_fee",
    "farmer_reward",
    "farmer_ambassador_commission",
    "factory_ambassador_commission",
    "protocol_fee",
    "refunded_to_pool",
]


def _submission_money_display(name: str):
    @admin.display(description=name.replace("_", " ").capitalize())
    def display(self, obj):
        return _money(getattr(obj, name), obj.factory.token)

    display.__name__ = f"{name}_display"
    return display


@admin.register(Submission)
class SubmissionAdmin(ViewOnlyMixin, admin.ModelAdmin):
    """Scores are changed through the review endpoint, which posts adjusting transactions."""

    list_display = [
        "id",
        "factory",
        "farmer",
        "status",
        "quality_score",
        "needs_review",
        "farmer_reward_display",
        "submitted_at",
        "settled_at",
    ]
    list_filter = ["status", "needs_review", "graded_by", "factory__token"]
    search_fields = ["farmer__username", "factory__title"]
    list_select_related = ["factory__token", "farmer"]
    date_hierarchy = "submitted_at"
    fieldsets = [
        (None, {"fields": ["claim", "factory", "farmer", "status", "submitted_at", "sequence_fingerprint"]}),
        (
            "Score",
            {
                "fields": [
                    "quality_score",
                    "score_confidence",
                    "graded_by",
                    "rubric_version",
                    "scored_at",
                    "score_breakdown",
                    "score_reasons",
                    "needs_review",
                    "review_reasons",
                    "scoring_attempts",
                    "scoring_error",
                ]
            },
        ),
        (
            "Settlement",
            {
                "fields": [
                    *(f"{name}_display" for name in SUBMISSION_MONEY),
                    "settlement_terms",
                    "farmer_ambassador",
                    "factory_ambassador",
                    "settled_at",
                    "settlement_transaction",
                ]
            },
        ),
        ("Demonstration", {"fields": ["demonstration"], "classes": ["collapse"]}),
    ]
    readonly_fields = [f"{name}_display" for name in SUBMISSION_MONEY]


for _name in SUBMISSION_MONEY:
    setattr(SubmissionAdmin, f"{_name}_display", _submission_money_display(_name))


class EconomicsConfigForm(forms.ModelForm):
    class Meta:
        model = EconomicsConfig
        fields = list(ECONOMICS_FIELDS)

    def clean(self):
        cleaned = super().clean()
        fee_rate = cleaned.get("platform_fee_rate")
        if fee_rate is not None:
            tier_rates = list(CommissionTier.objects.values_list("commission_rate", flat=True))
            try:
                commission_rates_validate(platform_fee_rate=fee_rate, tier_rates=tier_rates)
            except ValidationError as error:
                self.add_error("platform_fee_rate", error)
        return cleaned


@admin.register(EconomicsConfig)
class EconomicsConfigAdmin(NoDeleteMixin, admin.ModelAdmin):
    """The single row of money rules: no add, no delete; the list goes straight to the row."""

    form = EconomicsConfigForm
    readonly_fields = ["updated_at"]

    def save_model(self, request, obj, form, change):
        # Through the service: validated again under the tier lock, and audited.
        saved = economics_config_update(
            actor=request.user, **{name: form.cleaned_data[name] for name in ECONOMICS_FIELDS}
        )
        obj.updated_at = saved.updated_at

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        config = economics_config()
        return redirect(reverse("admin:pools_economicsconfig_change", args=[config.pk]))


# Flags and bonuses: their own module, registered with the others.
from . import admin_controls  # noqa: E402, F401
