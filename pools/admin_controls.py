"""Creators' flags and bonuses for staff (registered by pools/admin.py). Flags are decided
through `flag_decide`, the same service as the API, one by one or in bulk, with a reason kept
in the audit trail; bonuses are read-only records of their ledger postings."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from core.exceptions import ApplicationError

from .models import Bonus, Flag
from .services.controls import REASON_MAX, flag_decide


class FlagDecisionForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX, label="Reason (shown to both sides, kept in the audit trail)", widget=forms.Textarea
    )


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["pk", "submission", "factory_title", "raised_by", "status", "created_at", "decided_by"]
    list_filter = ["status"]
    search_fields = ["submission__factory__title", "raised_by__username", "reason"]
    list_select_related = ["submission__factory", "raised_by", "decided_by"]
    actions = ["uphold_selected", "dismiss_selected"]
    readonly_fields = [
        "submission",
        "raised_by",
        "reason",
        "status",
        "created_at",
        "decided_by",
        "decided_at",
        "decision_reason",
        "score_override",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Factory")
    def factory_title(self, obj):
        return obj.submission.factory.title

    def _decide(self, request, queryset, *, upheld: bool, action: str):
        flags = list(queryset.filter(status=Flag.Status.OPEN).select_related("submission__factory").order_by("pk"))
        if not flags:
            self.message_user(request, "The selected flags are already decided.", messages.INFO)
            return None
        form = FlagDecisionForm(request.POST if "apply" in request.POST else None)
        if "apply" not in request.POST or not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Uphold flags: reverse the payments" if upheld else "Dismiss flags",
                "opts": self.model._meta,
                "flags": flags,
                "form": form,
                "upheld": upheld,
                "action": action,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/pools/flag/decide.html", context)
        for flag in flags:
            try:
                flag_decide(flag_id=flag.pk, reviewer=request.user, upheld=upheld, reason=form.cleaned_data["reason"])
            except (ApplicationError, ValidationError) as error:
                text = error.message if isinstance(error, ApplicationError) else " ".join(error.messages)
                self.message_user(request, f"Flag {flag.pk}: {text}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Flag {flag.pk}: {'upheld, payment reversed' if upheld else 'dismissed'}.",
                    messages.SUCCESS,
                )
        return None

    @admin.action(description="Uphold selected flags (reverses the payments; asks for a reason)")
    def uphold_selected(self, request, queryset):
        return self._decide(request, queryset, upheld=True, action="uphold_selected")

    @admin.action(description="Dismiss selected flags (asks for a reason)")
    def dismiss_selected(self, request, queryset):
        return self._decide(request, queryset, upheld=False, action="dismiss_selected")


@admin.register(Bonus)
class BonusAdmin(admin.ModelAdmin):
    list_display = ["pk", "submission", "factory", "farmer", "amount_display", "created_at"]
    list_select_related = ["factory__token", "farmer"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount (farmer + fee)")
    def amount_display(self, obj):
        money = obj.factory.token.money
        return f"{money(obj.amount)} ({money(obj.farmer_amount)} + {money(obj.platform_fee)})"
