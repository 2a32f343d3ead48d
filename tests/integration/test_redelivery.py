"""At-least-once delivery, settled exactly once: the same money tasks delivered several times
to two real workers on Redis move money once, and the ledger audit stays clean."""

import pytest
from celery import current_app

from core.money import parse_amount
from ledger.models import Account, Transaction
from pools.models import Claim, Factory, Submission
from pools.services.claims import claim_create
from pools.services.submissions import submission_create, submission_review
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration
from tests.integration.conftest import broker_idle, wait_for
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.integration


def balance(user) -> int:
    account = Account.objects.filter(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}").first()
    return account.balance if account else 0


def test_the_same_settle_task_delivered_many_times_settles_once(start_worker, publish_to_broker, settings):
    settings.FORGE_GRADER = "manual"  # scores only through review: the test decides when to settle
    workers = [start_worker(extra_env={"FORGE_GRADER": "manual"}) for _ in range(2)]
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    wait_for(lambda: broker_idle(publish_to_broker), message="the workers to take the wake-up")
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SUBMITTED

    def completed() -> tuple[int, int]:
        settled = sum(worker.succeeded("pools.submission_settle") for worker in workers)
        processed = sum(worker.succeeded("pools.submissions_process_pending") for worker in workers)
        return settled, processed

    settled_before, processed_before = completed()  # the submission's wake-up
    # The review enqueues one settle task after it commits; four more copies follow it (two
    # settles, and two runs of the batch processor, which also settles what is ready).
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.9")
    for name in ("pools.submission_settle", "pools.submission_settle"):
        current_app.send_task(name, args=[submission.pk])
    for _ in range(2):
        current_app.send_task("pools.submissions_process_pending")

    wait_for(lambda: Submission.objects.filter(pk=submission.pk, status="settled").exists(), message="the settlement")
    expected = (settled_before + 3, processed_before + 2)

    # Every copy runs to completion (waited for by count: the broker looks idle for an instant
    # between a worker taking a message and recording it as unacknowledged)...
    wait_for(lambda: completed() == expected, message="every copy to be processed")
    wait_for(lambda: broker_idle(publish_to_broker), message="the broker to be idle")
    assert completed() == expected  # and no more
    # ...and one of them moved the money.
    assert Transaction.objects.filter(idempotency_key=f"settle:{submission.pk}").count() == 1
    assert Transaction.objects.filter(kind="settlement").count() == 1
    assert balance(farmer) == parse_amount("0.162", decimals=6)
    factory.refresh_from_db()
    assert (factory.in_flight_count, factory.accepted_count) == (0, 1)
    assert_audit_clean()


def test_the_claims_expiry_task_delivered_many_times_returns_a_reservation_once(start_worker, publish_to_broker):
    workers = [start_worker() for _ in range(2)]
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    claim = claim_create(factory=factory, farmer=FarmerFactory())
    Claim.objects.filter(pk=claim.pk).update(expires_at=claim.created_at)  # overdue

    for _ in range(4):
        current_app.send_task("pools.claims_expire")

    wait_for(lambda: broker_idle(publish_to_broker), message="every copy to be processed")
    assert sum(worker.succeeded("pools.claims_expire") for worker in workers) == 4
    claim.refresh_from_db()
    assert claim.status == Claim.Status.EXPIRED
    assert Transaction.objects.filter(idempotency_key=f"claim-expire:{claim.pk}").count() == 1
    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk)
    assert (factory.available_account.balance, factory.reserved_account.balance) == (1_000_000, 0)
    assert factory.in_flight_count == 0
    assert_audit_clean()
