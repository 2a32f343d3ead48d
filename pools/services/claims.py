"""Claims: a farmer reserves one reward from a pool, then submits or lets it expire.

Claims on one factory are serialized by the factory row lock (pools/locks.py; the lock order
is in ledger/locks.py), so a pool never promises more than it holds.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.db import atomic_with_retry
from core.exceptions import Conflict, Forbidden
from farmers.selectors import reputation_of
from ledger.models import Account
from ledger.services import InsufficientFunds, Leg, transaction_post

from ..grading.checks import checks_from_json, checks_propose, checks_to_json
from ..grading.references import reference_milestones
from ..locks import factory_lock
from ..models import Claim, Factory
from .factories import pool_return_to_creator


def _pool_legs(factory: Factory, amount: int) -> list[Leg]:
    """Legs moving `amount` from available to reserved (negative amount: back again)."""
    accounts = Account.objects.in_bulk([factory.available_account_id, factory.reserved_account_id])
    return [
        Leg(accounts[factory.available_account_id], -amount),
        Leg(accounts[factory.reserved_account_id], amount),
    ]


def claim_terms(factory: Factory) -> dict:
    """The task terms a claim is made under, frozen on the claim: what the agent grades against.
    The factory's success checks, or (none set) the ones the agent proposes from the instructions
    now, so that the farmer's work is judged by what was asked when they took it."""
    if factory.success_checks:
        checks = checks_from_json(factory.success_checks)
    else:
        checks = checks_propose(factory.title, factory.instructions)
    return {
        "title": factory.title,
        "instructions": factory.instructions,
        "expected_minutes": factory.expected_minutes,
        "reward": str(factory.reward),
        "checks": checks_to_json(checks),
        "requires_recording": factory.requires_recording,
        # The milestones of the reference demonstrations, not the recordings themselves.
        "references": [list(reference_milestones(demo)) for demo in factory.reference_demonstrations or []],
    }


@atomic_with_retry
def claim_create(*, factory: Factory, farmer) -> Claim:
    """Reserve the factory's current reward for `farmer`, or refuse with a clear reason."""
    if farmer.role != "farmer":
        raise Forbidden("Only farmers can claim tasks.")
    factory = factory_lock(factory.pk)
    money = factory.token.money

    if factory.status != Factory.Status.ACTIVE:
        raise Conflict(f"This factory is {factory.get_status_display().lower()} and takes no claims.")
    reputation = reputation_of(farmer)
    if reputation < factory.min_reputation:
        raise Forbidden(
            f"This premium factory needs a reputation of {factory.min_reputation}; yours is {reputation} "
            f"({factory.min_reputation - reputation} points to go)."
        )
    if factory.is_full:
        raise Conflict("This factory has reached its target count.")
    mine = Claim.objects.filter(factory=factory, farmer=farmer)
    if mine.filter(status=Claim.Status.OPEN).exists():
        raise Conflict("You already hold an open claim on this factory: submit it or let it expire first.")
    if factory.per_farmer_limit is not None:
        used = mine.exclude(status=Claim.Status.EXPIRED).count()
        if used >= factory.per_farmer_limit:
            raise Conflict(f"This factory takes at most {factory.per_farmer_limit} demonstration(s) per farmer.")

    now = timezone.now()
    try:
        with transaction.atomic():
            claim = Claim.objects.create(
                factory=factory,
                farmer=farmer,
                reward=factory.reward,
                terms=claim_terms(factory),
                created_at=now,
                expires_at=now + timedelta(minutes=factory.claim_timeout_minutes),
            )
    except IntegrityError:  # the partial unique index: one open claim per farmer and factory
        raise Conflict("You already hold an open claim on this factory.") from None
    try:
        transaction_post(
            key=f"claim:{claim.pk}",
            kind="claim",
            legs=_pool_legs(factory, claim.reward),
            memo=f"Claim {claim.pk} reserves {money(claim.reward)}",
        )
    except InsufficientFunds:
        raise Conflict(f"The pool cannot cover the reward of {money(factory.reward)} right now.") from None
    Factory.objects.filter(pk=factory.pk).update(in_flight_count=F("in_flight_count") + 1)
    return claim


@atomic_with_retry
def claim_expire(*, claim_id: int, now=None) -> bool:
    """Return an overdue open claim's reservation to the pool. False when there is nothing to do
    (already submitted or expired, or not due yet): safe to call any number of times."""
    now = now or timezone.now()
    claim = Claim.objects.select_related("factory").get(pk=claim_id)
    # The factory before the claim (the one exception to the order): FOR NO KEY UPDATE does not
    # exclude the KEY SHARE lock a foreign key check takes, so a submission holding this claim
    # and checking its factory_id never waits for it (tests/pools/test_submission_intake.py).
    factory = factory_lock(claim.factory_id, related=())
    expired = Claim.objects.filter(pk=claim_id, status=Claim.Status.OPEN, expires_at__lte=now).update(
        status=Claim.Status.EXPIRED, closed_at=now
    )
    if not expired:
        return False
    transaction_post(
        key=f"claim-expire:{claim.pk}",
        kind="claim_expire",
        legs=_pool_legs(factory, -claim.reward),
        memo=f"Claim {claim.pk} expired: reservation returned",
    )
    Factory.objects.filter(pk=factory.pk).update(in_flight_count=F("in_flight_count") - 1)
    pool_return_to_creator(factory=factory, reason=f"claim-expire:{claim.pk}")
    return True


def claims_expire_due(*, now=None, limit: int = 1000) -> int:
    """Expire every overdue open claim (periodic task). Each claim in its own transaction."""
    now = now or timezone.now()
    due = list(
        Claim.objects.filter(status=Claim.Status.OPEN, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(claim_expire(claim_id=claim_id, now=now) for claim_id in due)
