"""Settlement through the real services and ledger: economics.md's worked examples end to end
(with real ambassadors), exactly once, the reward reserved at claim time, counters, the
reputation task after commit, and a clean audit."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from core.exceptions import Conflict
from core.money import parse_amount
from farmers.models import FarmerProfile
from ledger.models import Account, Entry, Transaction
from notifications.models import Kind, Notification
from pools.models import Factory, Submission
from pools.services.claims import claim_create
from pools.services.factories import factory_close, factory_rate_change
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_review
from pools.tasks import submission_settle_task, submissions_process_pending_task, submissions_sweep_task
from referrals.services import ambassador_create, ambassador_set_tier, referral_attach
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def usdc(text: str) -> int:
    return parse_amount(text, decimals=6, allow_zero=True)


def balance(user, symbol: str = "USDC") -> int:
    account = Account.objects.filter(
        kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token__symbol=symbol
    ).first()
    return account.balance if account else 0


def treasury(symbol: str = "USDC") -> int:
    account = Account.objects.filter(kind=Account.Kind.TREASURY, token__symbol=symbol).first()
    return account.balance if account else 0


def pool(factory: Factory) -> tuple[int, int]:
    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk)
    return factory.available_account.balance, factory.reserved_account.balance


def submit(factory: Factory, farmer) -> Submission:
    """Claim and submit. In a `db` test the after-commit scoring task never fires, so the
    submission waits in `submitted` for the test to score it."""
    claim = claim_create(factory=factory, farmer=farmer)
    return submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())


def scored(submission: Submission, score: str) -> Submission:
    """Give the submission an exact score the way a reviewer does (the settle task it
    enqueues after commit does not fire here: the test settles explicitly)."""
    return submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score=score)


def settle(factory: Factory, farmer, score: str) -> Submission:
    submission = scored(submit(factory, farmer), score)
    return submission_settle(submission_id=submission.pk)


@pytest.mark.parametrize(
    ("q", "farmer_gets", "back_to_pool", "fee", "status"),
    [
        ("0.90", "0.162", "0.02", "0.018", "settled"),
        ("0.50", "0.09", "0.10", "0.01", "settled"),
        ("0.49", "0", "0.20", "0", "rejected"),
    ],
)
def test_worked_examples_move_exactly_these_amounts_through_the_ledger(q, farmer_gets, back_to_pool, fee, status):
    factory = funded_factory(CreatorFactory(), reward="0.20", deposit="1")
    farmer = FarmerFactory()
    treasury_before = treasury()

    submission = settle(factory, farmer, q)

    assert submission.status == status
    assert balance(farmer) == usdc(farmer_gets)
    assert treasury() - treasury_before == usdc(fee)
    assert pool(factory) == (usdc("0.80") + usdc(back_to_pool), 0)
    submission.refresh_from_db()
    assert submission.farmer_reward == usdc(farmer_gets)
    assert submission.refunded_to_pool == usdc(back_to_pool)
    assert submission.platform_fee == usdc(fee)
    assert submission.gross_payout == usdc(farmer_gets) + usdc(fee)
    assert submission.settlement_transaction.idempotency_key == f"settle:{submission.pk}"
    assert_audit_clean()


@pytest.mark.parametrize(
    ("farmer_tier", "creator_tier", "farmer_amb_gets", "factory_amb_gets", "protocol_gets"),
    [
        (None, None, "0", "0", "0.02"),  # 1. no referrals
        (3, None, "0.006", "0", "0.014"),  # 2. farmer referred, tier 3
        (None, 5, "0", "0.01", "0.01"),  # 3. creator referred, tier 5
        (5, 5, "0.01", "0.01", "0"),  # 4. both referred, tier 5 + 5
    ],
)
def test_referral_scenarios_pay_real_ambassadors_out_of_the_fee(
    farmer_tier, creator_tier, farmer_amb_gets, factory_amb_gets, protocol_gets
):
    staff = StaffFactory()
    creator, farmer = CreatorFactory(), FarmerFactory()
    farmer_amb_user, factory_amb_user = FarmerFactory(), CreatorFactory()
    for tier, user, referred in ((farmer_tier, farmer_amb_user, farmer), (creator_tier, factory_amb_user, creator)):
        if tier is not None:
            ambassador, _ = ambassador_create(user=user)
            referral_attach(user=referred, ambassador=ambassador)
            ambassador_set_tier(ambassador=ambassador, tier=tier, actor=staff)
    factory = funded_factory(creator, reward="0.20", deposit="1")
    treasury_before = treasury()

    submission = settle(factory, farmer, "1.0")

    assert submission.status == "settled"
    assert balance(farmer) == usdc("0.18")
    assert balance(farmer_amb_user) == usdc(farmer_amb_gets)
    assert balance(factory_amb_user) == usdc(factory_amb_gets)
    assert treasury() - treasury_before == usdc(protocol_gets)
    assert pool(factory) == (usdc("0.80"), 0)
    submission.refresh_from_db()
    assert submission.farmer_ambassador_commission == usdc(farmer_amb_gets)
    assert submission.factory_ambassador_commission == usdc(factory_amb_gets)
    assert submission.protocol_fee == usdc(protocol_gets)
    assert submission.farmer_ambassador_id == (farmer_amb_user.pk if farmer_tier else None)
    assert submission.factory_ambassador_id == (factory_amb_user.pk if creator_tier else None)
    # The commissions and the protocol's part are legs of the one settlement transaction.
    legs = dict(
        Entry.objects.filter(transaction=submission.settlement_transaction).values_list("account__holder", "amount")
    )
    if farmer_tier:
        assert legs[f"user:{farmer_amb_user.pk}"] == usdc(farmer_amb_gets)
    assert legs[f"user:{farmer.pk}"] == usdc("0.18")
    assert_audit_clean()


def test_settling_twice_posts_one_transaction():
    factory = funded_factory(CreatorFactory(), reward="0.20", deposit="1")
    farmer = FarmerFactory()
    submission = scored(submit(factory, farmer), "0.9")
    transactions_before = Transaction.objects.count()

    first = submission_settle(submission_id=submission.pk)
    second = submission_settle(submission_id=submission.pk)
    submission_settle_task.apply(args=[submission.pk])
    submissions_process_pending_task.apply()

    assert Transaction.objects.count() == transactions_before + 1
    assert Transaction.objects.filter(idempotency_key=f"settle:{submission.pk}").count() == 1
    assert first.settlement_transaction_id == second.settlement_transaction_id
    assert balance(farmer) == usdc("0.162")
    factory.refresh_from_db()
    assert (factory.in_flight_count, factory.accepted_count) == (0, 1)
    assert_audit_clean()


def test_below_threshold_is_rejected_and_the_whole_reward_returns_to_available():
    factory = funded_factory(CreatorFactory(), reward="0.20", deposit="1")
    farmer = FarmerFactory()
    submission = submit(factory, farmer)
    assert pool(factory) == (usdc("0.80"), usdc("0.20"))

    submission = submission_settle(submission_id=scored(submission, "0.49").pk)

    assert submission.status == Submission.Status.REJECTED
    assert submission.gross_payout == 0
    assert submission.refunded_to_pool == usdc("0.20")
    assert pool(factory) == (usdc("1"), 0)
    assert balance(farmer) == 0
    factory.refresh_from_db()
    assert (factory.in_flight_count, factory.accepted_count) == (0, 0)
    assert_audit_clean()


def test_the_reward_is_the_one_reserved_at_claim_time_even_after_a_rate_change():
    creator = CreatorFactory()
    factory = funded_factory(creator, reward="0.20", deposit="2")
    farmer = FarmerFactory()
    submission = submit(factory, farmer)

    factory_rate_change(factory=factory, reward="0.50", actor=creator)
    settled = submission_settle(submission_id=scored(submission, "1").pk)

    assert settled.gross_payout == usdc("0.20")
    assert balance(farmer) == usdc("0.18")
    # A new claim reserves the new rate.
    later = claim_create(factory=factory, farmer=FarmerFactory())
    assert later.reward == usdc("0.50")
    assert pool(factory) == (usdc("2") - usdc("0.20") - usdc("0.50"), usdc("0.50"))
    assert_audit_clean()


def test_counters_follow_claims_submissions_and_settlements():
    factory = funded_factory(CreatorFactory(), reward="0.20", deposit="1")
    accepted, rejected = submit(factory, FarmerFactory()), submit(factory, FarmerFactory())
    factory.refresh_from_db()
    assert (factory.in_flight_count, factory.accepted_count) == (2, 0)

    submission_settle(submission_id=scored(accepted, "0.8").pk)
    factory.refresh_from_db()
    assert (factory.in_flight_count, factory.accepted_count) == (1, 1)

    submission_settle(submission_id=scored(rejected, "0.1").pk)
    factory.refresh_from_db()
    assert (factory.in_flight_count, factory.accepted_count) == (0, 1)
    assert_audit_clean()


def test_reputation_is_recomputed_only_after_the_settlement_commits(django_capture_on_commit_callbacks):
    factory = funded_factory(CreatorFactory(), reward="0.20", deposit="1")
    farmer = FarmerFactory()
    submission = scored(submit(factory, farmer), "0.9")

    with django_capture_on_commit_callbacks() as callbacks:
        submission_settle(submission_id=submission.pk)

    # The settlement metrics, the reputation wake-up, the farmer's "paid" notification and the
    # creator's webhook event (notifications/services.py), in that order.
    assert len(callbacks) == 4
    assert not FarmerProfile.objects.filter(user=farmer, settled_count__gt=0).exists()
    assert not Notification.objects.filter(user=farmer).exists()
    callbacks[2]()
    assert Notification.objects.get(user=farmer).kind == Kind.SUBMISSION_PAID
    callbacks[1]()  # the commit happened: the (eager) reputation task runs
    assert FarmerProfile.objects.get(user=farmer).settled_count == 1


def test_an_unscored_submission_cannot_settle_and_nothing_is_written():
    factory = funded_factory(CreatorFactory(), reward="0.20", deposit="1")
    submission = submit(factory, FarmerFactory())
    transactions_before = Transaction.objects.count()

    with pytest.raises(Conflict):
        submission_settle(submission_id=submission.pk)

    assert Transaction.objects.count() == transactions_before
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SUBMITTED
    # The task treats it as "not yet" rather than an error.
    assert submission_settle_task.apply(args=[submission.pk]).get() == "submitted"
    assert_audit_clean()


def test_after_a_factory_closes_the_part_back_to_the_pool_goes_to_the_creator():
    creator = CreatorFactory()
    factory = funded_factory(creator, reward="0.20", deposit="1")
    farmer = FarmerFactory()
    submission = submit(factory, farmer)
    factory_close(factory=factory, actor=creator)
    assert balance(creator) == usdc("0.80")

    submission_settle(submission_id=scored(submission, "0.9").pk)

    assert balance(farmer) == usdc("0.162")
    assert balance(creator) == usdc("0.82")
    assert pool(factory) == (0, 0)
    assert_audit_clean()


def test_the_sweeper_settles_a_forgotten_submission_once(settings):
    settings.FORGE_SWEEP_AFTER_SECONDS = 0
    factory = funded_factory(CreatorFactory(), reward="0.20", deposit="1")
    farmer = FarmerFactory()
    submission = submit(factory, farmer)  # its after-commit task never ran: "the broker was down"

    assert submissions_sweep_task.apply().get() == 1  # eager: scored and settled in-process
    assert submissions_sweep_task.apply().get() == 0  # nothing left behind
    submissions_process_pending_task.apply()  # a late duplicate delivery

    submission.refresh_from_db()
    assert submission.status in (Submission.Status.SETTLED, Submission.Status.REJECTED)
    assert submission.quality_score is not None
    assert Transaction.objects.filter(idempotency_key=f"settle:{submission.pk}").count() == 1
    assert balance(farmer) == submission.farmer_reward
    assert_audit_clean()


def test_the_sweeper_leaves_held_and_unreviewed_manual_submissions_alone(settings):
    settings.FORGE_SWEEP_AFTER_SECONDS = 0
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(CreatorFactory(), reward="0.20", deposit="1")
    waiting = submit(factory, FarmerFactory())
    held = submit(factory, FarmerFactory())
    Submission.objects.filter(pk=held.pk).update(quality_score=Decimal("0.9"), needs_review=True, status="scoring")

    assert submissions_sweep_task.apply().get() == 0
    assert Submission.objects.get(pk=waiting.pk).status == Submission.Status.SUBMITTED
    assert Submission.objects.get(pk=held.pk).settlement_transaction_id is None


def test_concurrent_settlements_of_one_submission_post_one_transaction(transactional_db, django_db_serialized_rollback):
    factory = funded_factory(CreatorFactory(), reward="0.20", deposit="1")
    farmer = FarmerFactory()
    submission = scored(submit(factory, farmer), "0.9")
    start = threading.Barrier(4)
    errors = []

    def worker():
        try:
            start.wait()
            submission_settle(submission_id=submission.pk)
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert Transaction.objects.filter(idempotency_key=f"settle:{submission.pk}").count() == 1
    assert balance(farmer) == usdc("0.162")
    factory.refresh_from_db()
    assert (factory.in_flight_count, factory.accepted_count) == (0, 1)
    assert_audit_clean()
