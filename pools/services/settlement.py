"""Settlement: the money of a demonstration, exactly once.

`settle_rows` (used by the batch path and by `submission_settle` for one submission)
computes the shares of economics.md once (pools/economics.py) with the rates and ambassadors
in force now, and posts one ledger transaction per submission keyed `settle:<id>`:

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

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.selectors import users_linked
from core.db import atomic_with_retry, bulk_update_values, rows_json, with_rows
from core.exceptions import Conflict
from core.metrics import settlements_add
from core.queue import queue_on_commit
from ledger.models import Account
from ledger.services import (
    Leg,
    Posting,
    account_get,
    accounts_get_many,
    balances_apply,
    transaction_ids_reserve,
    transaction_post,
    transactions_write,
    treasury_account,
)
from referrals.selectors import Commission, commissions_for_many
from referrals.services import SettledCommission, commission_rollup_add

from ..economics import Shares, settlement_shares
from ..locks import factories_lock, factory_lock, submission_lock
from ..models import Factory, ScoreOverride, Submission
from ..selectors import economics_config
from .factories import pool_return_to_creator
from .notices import submission_notify_score_changed, submissions_notify_settled


class NotReadyToSettle(Conflict):
    """Not scored yet, or held for staff review: nothing was written, settle again later."""


def _share_legs(
    shares: Shares, *, reserved, available, treasury, balance, farmer_id, farmer_amb_id, factory_amb_id, sign: int = 1
) -> list[Leg]:
    """The legs of a settlement (sign=-1: their mirror image). `balance(user_id)` gives a
    user's balance account in the pool's token."""
    legs = [
        Leg(reserved, -shares.reward * sign),
        Leg(available, shares.back_to_pool * sign),
        Leg(treasury, shares.protocol * sign),
    ]
    if shares.farmer:
        legs.append(Leg(balance(farmer_id), shares.farmer * sign))
    if shares.farmer_ambassador:
        legs.append(Leg(balance(farmer_amb_id), shares.farmer_ambassador * sign))
    if shares.factory_ambassador:
        legs.append(Leg(balance(factory_amb_id), shares.factory_ambassador * sign))
    return legs


def _legs(factory: Factory, shares: Shares, *, sign: int = 1, **people) -> list[Leg]:
    """`_share_legs` for one submission, looking its accounts up one by one."""
    pool = Account.objects.in_bulk([factory.available_account_id, factory.reserved_account_id])
    return _share_legs(
        shares,
        reserved=pool[factory.reserved_account_id],
        available=pool[factory.available_account_id],
        treasury=treasury_account(factory.token),
        balance=lambda user_id: account_get(
            kind=Account.Kind.USER_BALANCE, holder=f"user:{user_id}", token=factory.token
        ),
        sign=sign,
        **people,
    )


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


UPDATE_COUNTERS = with_rows(
    "UPDATE pools_factory AS f SET in_flight_count = f.in_flight_count + v.in_flight, "
    "accepted_count = f.accepted_count + v.accepted FROM {rows} AS v WHERE f.id = v.id",
    [("id", "bigint"), ("in_flight", "int"), ("accepted", "int")],
)


def _update_factory_counters(changes: dict[int, tuple[int, int]]) -> None:
    """{factory_id: (in_flight delta, accepted delta)} in one statement."""
    if not changes:
        return
    with connection.cursor() as cursor:
        cursor.execute(UPDATE_COUNTERS, [rows_json(sorted((pk, *delta) for pk, delta in changes.items()))])


SETTLED_FIELDS = [  # what settle_rows sets on a submission
    *SHARE_FIELDS,
    "settlement_terms",
    "farmer_ambassador",
    "factory_ambassador",
    "status",
    "settled_at",
    "settlement_transaction",
]


def settle_rows(rows: list[Submission], *, write_fields: Sequence[str] = ()) -> None:
    """Settle scored, unheld rows (locked by the caller, `claim` loaded): one `settle:<id>`
    ledger transaction each, posted together; sets the settlement fields on each instance and
    writes them (with `write_fields`, what the caller changed on the rows), updates the
    factories' counters and returns closed pools' remainders.

    Ordered so that the rows every settlement shares (the factories, then the treasury's and
    ambassadors' accounts) are locked last and held only until COMMIT: shares and rows are
    computed and written first, against transaction ids reserved in advance (the foreign key
    is checked once `transactions_write` has inserted them). Two workers settling at once
    overlap everything but that end."""
    # With the pool's two accounts, which every settlement moves (no query of their own).
    factories = {
        f.pk: f
        for f in Factory.objects.select_related("token", "available_account", "reserved_account").filter(
            pk__in={row.factory_id for row in rows}
        )
    }
    config = economics_config()
    commissions = commissions_for_many({row.farmer_id for row in rows} | {f.creator_id for f in factories.values()})
    self_dealing = _self_dealing(rows, factories)

    specs = set()
    for row in rows:
        token_id = factories[row.factory_id].token_id
        specs.add((Account.Kind.TREASURY, "protocol", token_id))
        for user_id in (
            row.farmer_id,
            commissions[row.farmer_id].user_id,
            commissions[factories[row.factory_id].creator_id].user_id,
        ):
            if user_id is not None:
                specs.add((Account.Kind.USER_BALANCE, f"user:{user_id}", token_id))
    accounts = accounts_get_many(list(specs))
    pools = {account.pk: account for f in factories.values() for account in (f.available_account, f.reserved_account)}

    now = timezone.now()
    reserved_ids = transaction_ids_reserve(len(rows))
    postings, counters = [], defaultdict(lambda: [0, 0])
    for row, transaction_id in zip(rows, reserved_ids, strict=True):
        factory = factories[row.factory_id]
        farmer_side, factory_side = commissions[row.farmer_id], commissions[factory.creator_id]
        if row.pk in self_dealing:
            # The farmer works for their own factory under another account: no ambassador earns
            # on that work, whoever they are; the platform keeps the share (docs/security.md).
            farmer_side, factory_side = (
                Commission(user_id=side.user_id, rate=Decimal(0)) for side in (farmer_side, factory_side)
            )
        farmer_amb, farmer_rate = farmer_side.user_id, farmer_side.rate
        factory_amb, factory_rate = factory_side.user_id, factory_side.rate
        shares = settlement_shares(
            reward=row.claim.reward,
            quality_score=row.quality_score,
            quality_threshold=config.quality_threshold,
            platform_fee_rate=config.platform_fee_rate,
            farmer_ambassador_rate=farmer_rate,
            factory_ambassador_rate=factory_rate,
        )
        token_id = factory.token_id
        legs = _share_legs(
            shares,
            reserved=pools[factory.reserved_account_id],
            available=pools[factory.available_account_id],
            treasury=accounts[(Account.Kind.TREASURY, "protocol", token_id)],
            balance=lambda user_id, token_id=token_id: accounts[
                (Account.Kind.USER_BALANCE, f"user:{user_id}", token_id)
            ],
            farmer_id=row.farmer_id,
            farmer_amb_id=farmer_amb,
            factory_amb_id=factory_amb,
        )
        postings.append(
            Posting(
                key=f"settle:{row.pk}",
                kind="settlement",
                legs=legs,
                memo=f"Settlement of submission {row.pk} (q={row.quality_score})",
                id=transaction_id,
            )
        )
        accepted = row.quality_score >= config.quality_threshold
        _store(row, shares)
        row.settlement_terms = {
            "platform_fee_rate": str(config.platform_fee_rate),
            "quality_threshold": str(config.quality_threshold),
            "farmer_ambassador_rate": str(farmer_rate),
            "factory_ambassador_rate": str(factory_rate),
        }
        row.farmer_ambassador_id = farmer_amb
        row.factory_ambassador_id = factory_amb
        row.status = Submission.Status.SETTLED if accepted else Submission.Status.REJECTED
        row.settled_at = now
        row.settlement_transaction_id = transaction_id
        counters[row.factory_id][0] -= 1
        counters[row.factory_id][1] += 1 if accepted else 0

    # The transaction ids are reserved: the rows can be written before the transactions.
    bulk_update_values(Submission, rows, [*write_fields, *SETTLED_FIELDS])
    # Submit-to-paid lag and settlements/s for the metrics endpoint, once committed (a deferred
    # submitted_at is left out rather than loaded).
    lags = [(now - row.submitted_at).total_seconds() for row in rows if "submitted_at" in row.__dict__]
    settled_count = len(rows)
    transaction.on_commit(lambda: settlements_add(settled_count, lags))
    _refresh_reputations({row.farmer_id for row in rows})

    written = transactions_write(postings)
    moved = []
    for row in rows:
        posted = written.transactions[f"settle:{row.pk}"].pk
        if posted != row.settlement_transaction_id:  # the key existed: its first transaction
            row.settlement_transaction_id = posted
            moved.append(row)
    if moved:
        bulk_update_values(Submission, moved, ["settlement_transaction"])

    # The shared rows, locked from here to COMMIT: factories (pk order), then the accounts.
    statuses = factories_lock(factories)
    balances_apply(written.deltas)
    # After the accounts: a rollup row is written only for an ambassador whose account is locked.
    commission_rollup_add(settled_commissions(rows), token_ids={pk: f.token_id for pk, f in factories.items()})
    _update_factory_counters({pk: (a, b) for pk, (a, b) in counters.items()})
    for pk, status in statuses.items():
        if status == Factory.Status.CLOSED:
            factory = factories[pk]
            factory.status = status
            pool_return_to_creator(factory=factory, reason=f"settle:{rows[0].pk}")
    submissions_notify_settled(rows, factories)  # recorded after commit


def _self_dealing(rows, factories) -> set[int]:
    """Ids of the rows whose farmer and factory creator are linked accounts
    (accounts.selectors.users_linked)."""
    links = users_linked({row.farmer_id for row in rows})
    return {row.pk for row in rows if factories[row.factory_id].creator_id in links[row.farmer_id]}


def settled_commissions(rows) -> list[SettledCommission]:
    """The settled rows' commissions as plain values for the referrals rollup."""
    return [
        SettledCommission(
            pk=row.pk,
            factory_id=row.factory_id,
            settled_at=row.settled_at,
            farmer_ambassador_id=row.farmer_ambassador_id,
            farmer_ambassador_commission=row.farmer_ambassador_commission,
            factory_ambassador_id=row.factory_ambassador_id,
            factory_ambassador_commission=row.factory_ambassador_commission,
        )
        for row in rows
    ]


def _refresh_reputations(farmer_ids: set[int]) -> None:
    from farmers.services import reputation_mark_for_refresh

    reputation_mark_for_refresh(farmer_ids=farmer_ids)


@atomic_with_retry
def submission_settle(*, submission_id: int) -> Submission:
    """Pay out one scored submission (see the module docstring). Idempotent."""
    # Lock order everywhere (ledger/locks.py): submission, factory, then ledger accounts.
    submission = submission_lock(submission_id)
    if submission is None:
        raise Submission.DoesNotExist(f"No submission {submission_id}.")
    if submission.is_final:
        return submission
    if submission.quality_score is None:
        raise NotReadyToSettle("This submission has not been scored yet.")
    if submission.needs_review:
        raise NotReadyToSettle("This submission is held for staff review.")
    settle_rows([submission])
    return submission


def _enqueue_reputation(farmer_id: int) -> None:
    queue_on_commit("farmers.reputation_recompute", farmer_id)


@atomic_with_retry
def settlement_adjust(*, submission: Submission, override: ScoreOverride) -> Submission:
    """A score changed after settlement: post the difference between the new and the old
    shares (same rates and ambassadors as the original settlement) as one transaction."""
    submission = submission_lock(submission.pk)
    factory = factory_lock(submission.factory_id)
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
    submission.rubric_version = None  # a reviewer's score, no agent's
    submission.status = Submission.Status.SETTLED if accepted else Submission.Status.REJECTED
    submission.save(update_fields=[*SHARE_FIELDS, "quality_score", "graded_by", "rubric_version", "status"])
    commission_rollup_add(
        settled_commissions([submission]),
        token_ids={factory.pk: factory.token_id},
        before={submission.pk: (old.farmer_ambassador, old.factory_ambassador)},
    )
    if accepted != was_accepted:
        Factory.objects.filter(pk=factory.pk).update(accepted_count=F("accepted_count") + (1 if accepted else -1))
    pool_return_to_creator(factory=factory, reason=f"adjust:{submission.pk}:{override.pk}")
    _enqueue_reputation(submission.farmer_id)
    submission_notify_score_changed(submission, old_score=override.old_score, override_id=override.pk)
    return submission
