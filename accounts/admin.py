"""Admin for users and withdrawals.

Withdrawals are processed here by staff, through the same services as everywhere else:
"Mark sent" asks for each withdrawal's chain transaction reference on an intermediate page,
"Reject and return funds" asks for a reason; both pass `actor=request.user`. Withdrawals are
never added or deleted here (they are money records), and no field is edited by hand.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from core.exceptions import ApplicationError

from .links import account_link_decide
from .models import AccountLink, User, Withdrawal
from .services import (
    LOOKS_TAKEN,
    username_lookalike_exists,
    withdrawal_approve,
    withdrawal_mark_sent,
    withdrawal_reject,
)


class _NoLookalikes:
    """Staff may not create or rename a user into a look-alike of another either (the unique
    skeleton would otherwise refuse it with a 500)."""

    def clean_username(self):
        clean = getattr(super(), "clean_username", None)
        username = clean() if clean else self.cleaned_data["username"]
        if username_lookalike_exists(username, exclude_pk=self.instance.pk):
            raise ValidationError(LOOKS_TAKEN)
        return username


class UserCreateAdminForm(_NoLookalikes, AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User


class UserChangeAdminForm(_NoLookalikes, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = UserCreateAdminForm
    form = UserChangeAdminForm
    list_display = ("username", "email", "role", "is_staff", "is_active", "date_joined")
    list_filter = ("role", "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "email", "first_name", "last_name")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Role", {"fields": ("role",)}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Role", {"fields": ("role",)}),
    )


class MarkSentForm(forms.Form):
    chain_ref = forms.CharField(max_length=128, label="Chain transaction reference")

    def __init__(self, *args, withdrawal: Withdrawal, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["chain_ref"].widget.attrs.update(
            {"aria-label": f"Chain reference for withdrawal {withdrawal.pk}", "size": 50, "autocomplete": "off"}
        )


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=255, label="Reason (shown to the user)", widget=forms.TextInput(attrs={"size": 60})
    )


def _error_text(error: Exception) -> str:
    if isinstance(error, ApplicationError):
        return error.message
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    raise error


@admin.register(Withdrawal)
class WithdrawalAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "amount_display", "address", "status", "created_at", "processed_at", "processed_by")
    list_filter = ("status", "token")
    search_fields = ("user__username", "address", "chain_ref")
    list_select_related = ("user", "token", "processed_by")
    date_hierarchy = "created_at"
    readonly_fields = (
        "user",
        "token",
        "amount_display",
        "address",
        "status",
        "chain_ref",
        "reject_reason",
        "created_at",
        "processed_at",
        "processed_by",
    )
    fields = readonly_fields
    actions = ("approve", "mark_sent", "reject_and_return")

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, withdrawal: Withdrawal) -> str:
        return str(withdrawal.token.money(withdrawal.amount))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _pending(self, request, queryset, statuses=(Withdrawal.Status.PENDING,)):
        pending = list(queryset.filter(status__in=statuses).select_related("user", "token"))
        skipped = queryset.exclude(status__in=statuses).count()
        if skipped:
            messages.warning(
                request,
                f"{skipped} withdrawal(s) skipped: already processed, or not in a state this action applies to.",
            )
        return pending

    @admin.action(description="Approve (above the limits): release for sending")
    def approve(self, request, queryset):
        done = 0
        for withdrawal in self._pending(request, queryset, statuses=(Withdrawal.Status.APPROVAL,)):
            try:
                withdrawal_approve(withdrawal=withdrawal, actor=request.user)
                done += 1
            except (ApplicationError, ValidationError) as error:
                messages.error(request, f"Withdrawal {withdrawal.pk}: {_error_text(error)}")
        if done:
            messages.success(request, f"{done} withdrawal(s) approved.")

    def _confirm_page(self, request, queryset, *, title: str, action: str, rows, form=None, template: str):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "rows": rows,
            "form": form,
            "queryset": queryset,
        }
        return TemplateResponse(request, f"admin/accounts/withdrawal/{template}", context)

    @admin.action(description="Mark sent (enter the chain references)")
    def mark_sent(self, request, queryset):
        pending = self._pending(request, queryset)
        if not pending:
            return None
        forms_by_id = {
            withdrawal.pk: MarkSentForm(
                request.POST if "apply" in request.POST else None, prefix=f"w{withdrawal.pk}", withdrawal=withdrawal
            )
            for withdrawal in pending
        }
        if "apply" in request.POST and all(form.is_valid() for form in forms_by_id.values()):
            done = 0
            for withdrawal in pending:
                try:
                    withdrawal_mark_sent(
                        withdrawal=withdrawal,
                        chain_ref=forms_by_id[withdrawal.pk].cleaned_data["chain_ref"],
                        actor=request.user,
                    )
                    done += 1
                except (ApplicationError, ValidationError) as error:
                    messages.error(request, f"Withdrawal {withdrawal.pk}: {_error_text(error)}")
            if done:
                messages.success(request, f"{done} withdrawal(s) marked sent.")
            return None
        rows = [(withdrawal, self.amount_display(withdrawal), forms_by_id[withdrawal.pk]) for withdrawal in pending]
        return self._confirm_page(
            request, queryset, title="Mark withdrawals sent", action="mark_sent", rows=rows, template="mark_sent.html"
        )

    @admin.action(description="Reject and return funds")
    def reject_and_return(self, request, queryset):
        pending = self._pending(request, queryset, statuses=(Withdrawal.Status.PENDING, Withdrawal.Status.APPROVAL))
        if not pending:
            return None
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for withdrawal in pending:
                try:
                    withdrawal_reject(withdrawal=withdrawal, reason=form.cleaned_data["reason"], actor=request.user)
                    done += 1
                except (ApplicationError, ValidationError) as error:
                    messages.error(request, f"Withdrawal {withdrawal.pk}: {_error_text(error)}")
            if done:
                messages.success(request, f"{done} withdrawal(s) rejected; the funds are back in the balances.")
            return None
        return self._confirm_page(
            request,
            queryset,
            title="Reject withdrawals and return the funds",
            action="reject_and_return",
            rows=[(withdrawal, self.amount_display(withdrawal), None) for withdrawal in pending],
            form=form,
            template="reject.html",
        )


class AccountLinkDecisionForm(forms.ModelForm):
    """Staff's decision on a link, through `account_link_decide` (audited)."""

    decision = forms.ChoiceField(
        choices=[("", "(no change)"), ("confirm", "Confirm: one person, keep withholding"), ("dismiss", "Dismiss")],
        required=False,
    )
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = AccountLink
        fields = []

    def clean(self):
        data = super().clean()
        if data.get("decision") == "dismiss" and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the link is dismissed.")
        return data


@admin.register(AccountLink)
class AccountLinkAdmin(admin.ModelAdmin):
    """Accounts that look like one person (docs/security.md, "Account links"). Open and
    confirmed links withhold commissions between the accounts and keep their work for each
    other out of reputation; staff confirm or dismiss each one here (recorded in the audit)."""

    form = AccountLinkDecisionForm
    list_display = (
        "id",
        "user_low",
        "user_high",
        "signal",
        "evidence",
        "status",
        "first_seen",
        "last_seen",
        "decided_by",
    )
    list_filter = ("status", "signal")
    search_fields = ("user_low__username", "user_high__username", "evidence")
    list_select_related = ("user_low", "user_high", "decided_by")
    readonly_fields = (
        "user_low",
        "user_high",
        "signal",
        "evidence",
        "status",
        "first_seen",
        "last_seen",
        "decided_by",
        "decided_at",
        "decision_reason",
    )
    fields = (*readonly_fields, "decision", "reason")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        decision = form.cleaned_data.get("decision")
        if not decision:
            return
        try:
            account_link_decide(link=obj, decision=decision, actor=request.user, reason=form.cleaned_data.get("reason"))
        except ValidationError as error:
            messages.error(request, _error_text(error))
