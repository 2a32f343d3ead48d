"""Settlement: the money of one demonstration, exactly once.

`submission_settle` computes the shares of economics.md once (pools/economics.py) with the
rates and ambassadors in force now, and posts one ledger transaction keyed `settle:<id>`:

    pool reserved   -R
    farmer balance  +(G - F)
    farmer's amb.   +floor(G x farmer_ambassador_rate)
    factory's amb.  +floor(G x creator_ambassador_rate)
    treasury        +(F - commissions)
    pool available  +(R - G)

The submission row is locked first and checked for a final status, and the ledger refuses a
second `settle:<id>` with different legs, so redeliveries, concurrent workers and crashes
(the transaction commits whole or not at all) settle each submission once.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from forge.exceptions import Conflict
from ledger.models import Account
from ledger.services import Leg, account_get, transaction_post, treasury_account
from referrals.selectors import commissions_for

from ..economics import Shares, settlement_shares
from ..models import Factory, ScoreOverride, Submission
from ..selectors import economics_config
from .factories import pool_return_to_creator
from .submissions import enqueue_after_commit


class NotReadyToSettle(Conflict):
    """Not scored yet, or held for staff review: nothing was written, settle again later."""


def _legs(
    factory: Factory, shares: Shares, *, farmer_id: int, farmer_amb_id, factory_amb_id, sign: int = 1
) -> list[Leg]:
    token = factory.token
    pool = Account.objects.in_bulk([factory.available_account_id, factory.reserved_account_id])

    def balance(user_id: int) -> Account:
        return account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{user_id}", token=token)

    legs = [
        Leg(pool[factory.reserved_account_id], -shares.reward * sign),
        Leg(pool[factory.available_account_id], shares.back_to_pool * sign),
        Leg(treasury_account(token), shares.protocol * sign),
    ]
    if shares.farmer:
        legs.append(Leg(balance(farmer_id), shares.farmer * sign))
    if shares.farmer_ambassador:
        legs.append(Leg(balance(farmer_amb_id), shares.farmer_ambassador * sign))
    if shares.factory_ambassador:
        legs.append(Leg(balance(factory_amb_id), shares.factory_ambassador * sign))
    return legs


def _store(submission: Submission, shares: Shares) -> None:
    submission.gross_payout = shares.gross
    submission.platform_fee = shares.fee
    submission.farmer_reward = shares.farmer
    submission.farmer_ambassador_commission = shares.farmer_ambassador
    submission.factory_ambassador_commission = shares.factory_ambassador
    submission.protocol_fee = shares.protocol
    submission.refunded_to_pool = shares.back_to_pool


SHARE_FIELDS = [
    "gross_payout",
    "platform_fee",
    "farmer_reward",
    "farmer_ambassador_commission",
    "factory_ambassador_commission",
    "protocol_fee",
    "refunded_to_pool",
]


@transaction.atomic
def submission_settle(*, submission_id: int) -> Submission:
    """Pay out a scored submission (see the module docstring). Idempotent."""
    # Lock order everywhere: submission, factory, then ledger accounts (in transaction_post).
    submission = Submission.objects.select_for_update(of=("self",)).select_related("claim").get(pk=submission_id)
    if submission.is_final:
        return submission
    if submission.quality_score is None:
        raise NotReadyToSettle("This submission has not been scored yet.")
    if submission.needs_review:
        raise NotReadyToSettle("This submission is held for staff review.")

    factory = Factory.objects.select_for_update(of=("self",)).select_related("token").get(pk=submission.factory_id)
    config = economics_config()
    farmer_side, factory_side = commissions_for(farmer_id=submission.farmer_id, creator_id=factory.creator_id)
    shares = settlement_shares(
        reward=submission.claim.reward,
        quality_score=submission.quality_score,
        quality_threshold=config.quality_threshold,
        platform_fee_rate=config.platform_fee_rate,
        farmer_ambassador_rate=farmer_side.rate,
        factory_ambassador_rate=factory_side.rate,
    )
    accepted = submission.quality_score >= config.quality_threshold
    txn = transaction_post(
        key=f"settle:{submission.pk}",
        kind="settlement",
        legs=_legs(
            factory,
            shares,
            farmer_id=submission.farmer_id,
            farmer_amb_id=farmer_side.user_id,
            factory_amb_id=factory_side.user_id,
        ),
        memo=f"Settlement of submission {submission.pk} (q={submission.quality_score})",
    )
    _store(submission, shares)
    submission.settlement_terms = {
        "platform_fee_rate": str(config.platform_fee_rate),
        "quality_threshold": str(config.quality_threshold),
        "farmer_ambassador_rate": str(farmer_side.rate),
        "factory_ambassador_rate": str(factory_side.rate),
    }
    submission.farmer_ambassador_id = farmer_side.user_id
    submission.factory_ambassador_id = factory_side.user_id
    submission.status = Submission.Status.SETTLED if accepted else Submission.Status.REJECTED
    submission.settled_at = timezone.now()
    submission.settlement_transaction = txn
    submission.save(
        update_fields=[
            *SHARE_FIELDS,
            "settlement_terms",
            "farmer_ambassador",
            "factory_ambassador",
            "status",
            "settled_at",
            "settlement_transaction",
        ]
    )
    Factory.objects.filter(pk=factory.pk).update(
        in_flight_count=F("in_flight_count") - 1,
        accepted_count=F("accepted_count") + (1 if accepted else 0),
    )
    pool_return_to_creator(factory=factory, reason=f"settle:{submission.pk}")
    _enqueue_reputation(submission.farmer_id)
    return submission


def _enqueue_reputation(farmer_id: int) -> None:
    from farmers.tasks import reputation_recompute_task

    enqueue_after_commit(reputation_recompute_task, farmer_id)


@transaction.atomic
def settlement_adjust(*, submission: Submission, override: ScoreOverride) -> Submission:
    """A score changed after settlement: post the difference between the new and the old
    shares (same rates and ambassadors as the original settlement) as one transaction."""
    submission = Submission.objects.select_for_update(of=("self",)).select_related("claim").get(pk=submission.pk)
    factory = Factory.objects.select_for_update(of=("self",)).select_related("token").get(pk=submission.factory_id)
    terms = submission.settlement_terms
    new = settlement_shares(
        reward=submission.claim.reward,
        quality_score=override.new_score,
        quality_threshold=Decimal(terms["quality_threshold"]),
        platform_fee_rate=Decimal(terms["platform_fee_rate"]),
        farmer_ambassador_rate=Decimal(terms["farmer_ambassador_rate"]),
        factory_ambassador_rate=Decimal(terms["factory_ambassador_rate"]),
    )
    old = Shares(
        reward=submission.claim.reward,
        gross=submission.gross_payout,
        fee=submission.platform_fee,
        farmer=submission.farmer_reward,
        farmer_ambassador=submission.farmer_ambassador_commission,
        factory_ambassador=submission.factory_ambassador_commission,
        protocol=submission.protocol_fee,
        back_to_pool=submission.refunded_to_pool,
    )
    ids = {
        "farmer_id": submission.farmer_id,
        "farmer_amb_id": submission.farmer_ambassador_id,
        "factory_amb_id": submission.factory_ambassador_id,
    }
    legs = _legs(factory, new, **ids) + _legs(factory, old, **ids, sign=-1)
    extra = old.back_to_pool - new.back_to_pool
    if factory.status == Factory.Status.CLOSED and extra > 0:
        # A closed pool's remainder already went back to its creator: a higher score is paid
        # from the creator's balance, as if that part had never been returned.
        creator = account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{factory.creator_id}", token=factory.token)
        legs = [leg for leg in legs if leg.account.pk != factory.available_account_id]
        legs.append(Leg(creator, -extra))
    # Equal gross payouts mean equal shares (same R and rates), so nothing would move.
    if new != old:
        override.adjustment_transaction = transaction_post(
            key=f"adjust:{submission.pk}:{override.pk}",
            kind="settlement_adjustment",
            legs=legs,
            memo=f"Score of submission {submission.pk}: {override.old_score} -> {override.new_score}",
            actor=override.reviewed_by,
        )
        override.save(update_fields=["adjustment_transaction"])
    was_accepted = submission.status == Submission.Status.SETTLED
    accepted = override.new_score >= Decimal(terms["quality_threshold"])
    _store(submission, new)
    submission.quality_score = override.new_score
    submission.graded_by = "manual"
    submission.status = Submission.Status.SETTLED if accepted else Submission.Status.REJECTED
    submission.save(update_fields=[*SHARE_FIELDS, "quality_score", "graded_by", "status"])
    if accepted != was_accepted:
        Factory.objects.filter(pk=factory.pk).update(accepted_count=F("accepted_count") + (1 if accepted else -1))
    pool_return_to_creator(factory=factory, reason=f"adjust:{submission.pk}:{override.pk}")
    _enqueue_reputation(submission.farmer_id)
    return submission
