"""Reads about factories and pools: configuration, pool summaries, what a farmer may see,
and the pools' cross-checks for the ledger audit."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from ledger.fields import AmountField

from .models import Claim, Deposit, EconomicsConfig, Factory, Submission


def economics_config() -> EconomicsConfig:
    config, _ = EconomicsConfig.objects.get_or_create(id=1)
    return config


@dataclass(frozen=True, slots=True)
class PoolSummary:
    deposited: int
    available: int
    reserved: int
    paid_out: int  # gross payouts: farmer rewards + platform fees
    refunded: int  # returned to the creator on close

    @property
    def spent(self) -> int:
        return self.paid_out

    def fraction(self, part: int) -> float:
        """For progress bars only (display), never for money."""
        total = self.available + self.reserved + self.paid_out + self.refunded
        return (part / total) if total else 0.0


def pool_summary(factory: Factory) -> PoolSummary:
    deposited = factory.deposits.filter(status=Deposit.Status.CONFIRMED).aggregate(
        total=Coalesce(Sum("amount"), 0, output_field=AmountField())
    )["total"]
    paid_out = factory.submissions.filter(status=Submission.Status.SETTLED).aggregate(
        total=Coalesce(Sum("gross_payout"), 0, output_field=AmountField())
    )["total"]
    return PoolSummary(
        deposited=int(deposited),
        available=factory.available_account.balance,
        reserved=factory.reserved_account.balance,
        paid_out=int(paid_out),
        refunded=factory.returned_to_creator,
    )


def factory_queryset():
    return Factory.objects.select_related("token", "available_account", "reserved_account", "creator")


def factories_open_to_farmers():
    """Active, able to pay at least one reward, and not full."""
    return (
        factory_queryset()
        .filter(status=Factory.Status.ACTIVE, available_account__balance__gte=F("reward"))
        .filter(Q(target_count__isnull=True) | Q(target_count__gt=F("accepted_count") + F("in_flight_count")))
    )


def factory_list_for_user(user):
    if user.is_staff:
        return factory_queryset()
    if user.role == "creator":
        return factory_queryset().filter(creator=user)
    return factories_open_to_farmers()


def factory_visible_to(user, factory: Factory) -> bool:
    """Owners and staff see their factory always; farmers see what is open, plus what they
    already worked on (so their submission pages stay reachable)."""
    if user.is_staff or factory.creator_id == user.pk:
        return True
    if user.role == "farmer":
        if factories_open_to_farmers().filter(pk=factory.pk).exists():
            return True
        return Claim.objects.filter(factory=factory, farmer=user).exists()
    return False


def audit_pools() -> list[str]:
    """Ledger audit cross-checks owned by pools (see settings.LEDGER_AUDIT_CHECKS)."""
    mismatches = []
    # Each pool's reserved balance equals the rewards of its claims still in flight.
    in_flight = Q(claims__status=Claim.Status.OPEN) | Q(
        claims__status=Claim.Status.SUBMITTED,
        claims__submission__status__in=[Submission.Status.SUBMITTED, Submission.Status.SCORING],
    )
    rows = (
        Factory.objects.annotate(
            held=Coalesce(Sum("claims__reward", filter=in_flight), 0, output_field=AmountField()),
            flying=Count("claims", filter=in_flight),
        )
        .exclude(reserved_account__balance=F("held"), in_flight_count=F("flying"))
        .values_list("id", "reserved_account__balance", "held", "in_flight_count", "flying")[:20]
    )
    for factory_id, reserved, held, counter, flying in rows:
        mismatches.append(
            f"factory {factory_id}: reserved {reserved} vs in-flight claims {held}; "
            f"in_flight_count {counter} vs {flying}"
        )
    # Every final submission has exactly its settlement transaction (unique key settle:<id>).
    unpaired = Submission.objects.filter(
        status__in=[Submission.Status.SETTLED, Submission.Status.REJECTED], settlement_transaction__isnull=True
    ).count()
    if unpaired:
        mismatches.append(f"{unpaired} settled submission(s) without a settlement transaction")
    return mismatches
