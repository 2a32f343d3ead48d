"""A worker SIGKILLed in the middle of a settlement: no partial money movement, and the
submission settles exactly once when a new worker takes the redelivered task.

To kill the worker at a known point without test hooks in production code, the test holds a
row lock on the farmer's balance account from its own database connection. The worker's
settlement transaction (submission and factory locked, `settle:<id>` inserted) then waits on
that lock, and the test can see it waiting in pg_stat_activity before killing it.
"""

import psycopg
import pytest
from django.db import connection

from core.money import parse_amount
from ledger.models import Account, Entry, Transaction
from ledger.services import account_get
from pools.models import Factory, Submission
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.integration.conftest import _database_url, wait_for, wait_until_redeliverable
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.integration


def backends_blocked_by(pid: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [pid])
        return [row[0] for row in cursor.fetchall()]


def test_a_worker_killed_mid_settlement_moves_no_money_and_a_new_worker_settles_once(
    celery_worker_process, publish_to_broker
):
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    farmer_balance = account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{farmer.pk}", token=factory.token)
    entries_before, transactions_before = Entry.objects.count(), Transaction.objects.count()

    blocker = psycopg.connect(_database_url())
    try:
        with blocker.cursor() as cursor:  # opens a transaction that holds the row lock
            cursor.execute(f"SELECT id FROM {Account._meta.db_table} WHERE id = %s FOR UPDATE", [farmer_balance.pk])
            # The server's pid, asked inside the transaction: through PgBouncer the client-side
            # `backend_pid` is the pooler's, not the PostgreSQL backend holding the lock.
            cursor.execute("SELECT pg_backend_pid()")
            blocker_pid = cursor.fetchone()[0]
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

        waiting = wait_for(
            lambda: backends_blocked_by(blocker_pid),
            message="the worker's settlement to wait for the farmer's balance",
        )
        assert len(waiting) == 1
        celery_worker_process.kill()
    finally:
        blocker.rollback()
        blocker.close()

    # The killed worker's transaction can never commit: nothing of the settlement exists.
    assert not Transaction.objects.filter(idempotency_key=f"settle:{submission.pk}").exists()
    assert (Entry.objects.count(), Transaction.objects.count()) == (entries_before, transactions_before)
    submission.refresh_from_db()
    # Taking, scoring and settling a batch is one database transaction: none of it happened.
    assert submission.status == Submission.Status.SUBMITTED
    assert submission.quality_score is None
    assert submission.settlement_transaction_id is None
    assert Account.objects.get(pk=farmer_balance.pk).balance == 0
    factory = Factory.objects.select_related("reserved_account").get(pk=factory.pk)
    assert factory.reserved_account.balance == parse_amount("0.2", decimals=6)
    assert factory.in_flight_count == 1
    assert_audit_clean()

    # The message was never acknowledged: a new worker gets it once the visibility timeout passes.
    wait_until_redeliverable(publish_to_broker)
    celery_worker_process.start()
    settled = wait_for(
        lambda: Submission.objects.filter(pk=submission.pk, status__in=["settled", "rejected"]).first(),
        message="the new worker to settle the redelivered task",
    )

    assert Transaction.objects.filter(idempotency_key=f"settle:{submission.pk}").count() == 1
    assert Transaction.objects.count() == transactions_before + 1
    assert settled.settlement_transaction.idempotency_key == f"settle:{submission.pk}"
    assert Account.objects.get(pk=farmer_balance.pk).balance == settled.farmer_reward
    factory.refresh_from_db()
    assert factory.in_flight_count == 0
    assert_audit_clean()
