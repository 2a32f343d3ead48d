"""Reads for appeals and the staff review queue: the farmer's view of an appeal, appeal and
overturn rates per factory and per farmer, and the staff to-do counts on the admin index."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet

from accounts.models import Withdrawal
from pools.models import Deposit, Submission

from .models import Appeal, HeldSubmission


def held_submissions() -> QuerySet[Submission]:
    return HeldSubmission.objects.all()


def appeal_of(submission: Submission) -> Appeal | None:
    return Appeal.objects.filter(submission=submission).first()


@dataclass(frozen=True)
class AppealRate:
    key: int
    label: str
    final: int  # settled or refused submissions
    appeals: int
    decided: int
    upheld: int

    @property
    def appeal_rate(self) -> Decimal | None:
        return None if not self.final else (Decimal(self.appeals) / self.final).quantize(Decimal("0.0001"))

    @property
    def overturn_rate(self) -> Decimal | None:
        return None if not self.decided else (Decimal(self.upheld) / self.decided).quantize(Decimal("0.0001"))


def appeal_rates(*, by: str, limit: int = 50) -> list[AppealRate]:
    """Per factory (`by="factory"`) or per farmer (`by="farmer"`), those with the most appeals
    first: appeals per final submission, and upheld appeals per decided one (the overturn rate)."""
    if by not in ("factory", "farmer"):
        raise ValueError(by)
    label = "factory__title" if by == "factory" else "farmer__username"
    counts = (
        Appeal.objects.values(key=F(f"submission__{by}_id"), label=F(f"submission__{label}"))
        .annotate(
            appeals=Count("id"),
            decided=Count("id", filter=~Q(status=Appeal.Status.PENDING)),
            upheld=Count("id", filter=Q(status=Appeal.Status.UPHELD)),
        )
        .order_by("-appeals", "key")[:limit]
    )
    counts = list(counts)
    finals = dict(
        Submission.objects.filter(
            **{f"{by}_id__in": [row["key"] for row in counts]},
            status__in=[Submission.Status.SETTLED, Submission.Status.REJECTED],
        )
        .values_list(f"{by}_id")
        .annotate(n=Count("id"))
        .values_list(f"{by}_id", "n")
    )
    return [
        AppealRate(
            key=row["key"],
            label=row["label"],
            final=finals.get(row["key"], 0),
            appeals=row["appeals"],
            decided=row["decided"],
            upheld=row["upheld"],
        )
        for row in counts
    ]


def staff_todo_counts() -> dict[str, int]:
    """What waits for staff, for the admin index (one query per count, each on an index)."""
    return {
        "held": held_submissions().count(),
        "appeals": Appeal.objects.filter(status=Appeal.Status.PENDING, route=Appeal.Route.STAFF).count(),
        "withdrawals_approval": Withdrawal.objects.filter(status=Withdrawal.Status.APPROVAL).count(),
        "withdrawals": Withdrawal.objects.filter(status=Withdrawal.Status.PENDING).count(),
        "deposits": Deposit.objects.filter(status=Deposit.Status.PENDING).count(),
    }
