"""The broker is unreachable when a farmer submits: the submission is accepted all the same
(the intent to score is the row's status), and the sweeper has it settled, once, when the
broker is back."""

import logging
import time

import pytest

from ledger.models import Account, Transaction
from pools.models import Submission
from pools.services.claims import claim_create
from pools.tasks import submissions_sweep_task
from tests.conftest import client_for
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.integration.conftest import broker_idle, broker_unreachable, wait_for
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.integration


def test_a_submission_made_while_the_broker_is_down_is_accepted_and_settled_after_it_returns(
    celery_worker_process, publish_to_broker, settings, caplog
):
    settings.FORGE_SWEEP_AFTER_SECONDS = 0
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)

    with broker_unreachable(), caplog.at_level(logging.ERROR, logger="core.queue"):
        started = time.monotonic()
        response = client_for(farmer).post(
            f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
        )
        elapsed = time.monotonic() - started

    assert response.status_code == 201, response.content
    assert elapsed < 10  # failing to publish does not hang the request
    submission_id = response.json()["id"]
    # Logged by core.queue, which sends every task after commit (the status column is the intent).
    assert any(
        "could not enqueue pools.submissions_process_pending" in record.getMessage() for record in caplog.records
    )
    # Nothing reached the worker: the submission waits, durably, in `submitted`.
    time.sleep(1)
    assert broker_idle(publish_to_broker)
    assert Submission.objects.get(pk=submission_id).status == Submission.Status.SUBMITTED

    # The broker is back; the periodic sweeper finds the submission (run twice: a sweep that
    # overlaps the previous one's work must not pay twice).
    assert submissions_sweep_task() == 1
    submissions_sweep_task()
    settled = wait_for(
        lambda: Submission.objects.filter(pk=submission_id, status__in=["settled", "rejected"]).first(),
        message="the worker to settle the swept submission",
    )
    wait_for(lambda: broker_idle(publish_to_broker), message="every swept copy to be processed")

    assert celery_worker_process.succeeded("pools.submissions_process_pending") >= 1
    assert Transaction.objects.filter(idempotency_key=f"settle:{submission_id}").count() == 1
    farmer_balance = Account.objects.filter(kind=Account.Kind.USER_BALANCE, holder=f"user:{farmer.pk}").first()
    assert (farmer_balance.balance if farmer_balance else 0) == settled.farmer_reward
    assert submissions_sweep_task() == 0
    assert_audit_clean()
