"""The staff to-do counts on the admin index (templates/admin/index.html)."""

from django import template
from django.urls import reverse

from ..selectors import staff_todo_counts

register = template.Library()


@register.simple_tag
def staff_todo() -> list[tuple[str, int, str]]:
    counts = staff_todo_counts()
    return [
        ("Held for review", counts["held"], reverse("admin:reviews_heldsubmission_changelist")),
        (
            "Appeals waiting for staff",
            counts["appeals"],
            reverse("admin:reviews_appeal_changelist") + "?status__exact=pending&route__exact=staff",
        ),
        (
            "Withdrawals waiting for approval",
            counts["withdrawals_approval"],
            reverse("admin:accounts_withdrawal_changelist") + "?status__exact=approval",
        ),
        (
            "Withdrawals pending",
            counts["withdrawals"],
            reverse("admin:accounts_withdrawal_changelist") + "?status__exact=pending",
        ),
        (
            "Deposits to confirm",
            counts["deposits"],
            reverse("admin:pools_deposit_changelist") + "?status__exact=pending",
        ),
    ]
