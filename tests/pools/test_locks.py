"""pools/locks.py: each helper locks its own rows only, in the order of ledger/locks.py. The
root of issue 20 row 3: claims, rate changes and closes locked the factory's token row along
with the factory (`select_related` + `FOR UPDATE`), so every request on any factory of one
token queued on that row, and cycles with the settlement worker deadlocked."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from ledger.models import Token
from pools.models import Claim
from pools.services.claims import claim_create
from pools.services.factories import factory_rate_change
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _hold_rows(lock_query, release: threading.Event, held: threading.Event) -> None:
    """Another connection: lock some rows and keep them until `release`."""
    try:
        with transaction.atomic():
            lock_query()
            held.set()
            release.wait(timeout=30)
    finally:
        connection.close()


def _with_rows_held(lock_query, work):
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_rows, args=(lock_query, release, held))
    holder.start()
    try:
        assert held.wait(timeout=10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")  # waiting would fail the test
            return work()
    finally:
        release.set()
        holder.join(timeout=30)


def test_a_claim_and_a_rate_change_do_not_wait_for_the_token_row():
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    usdc = lambda: list(Token.objects.select_for_update().filter(symbol="USDC"))  # noqa: E731

    claim = _with_rows_held(usdc, lambda: claim_create(factory=factory, farmer=FarmerFactory()))
    _with_rows_held(usdc, lambda: factory_rate_change(factory=factory, reward="0.3", actor=factory.creator))

    assert Claim.objects.filter(pk=claim.pk, status=Claim.Status.OPEN).exists()
    factory.refresh_from_db()
    assert factory.reward == 300_000
    assert_audit_clean()


def test_a_claim_does_not_block_a_submission_for_another_claim_of_the_factory():
    """Factories are locked FOR NO KEY UPDATE: the foreign-key check of a new submission
    (KEY SHARE on its factory) passes while a claim holds the factory."""
    from pools.locks import factory_lock
    from pools.services.submissions import submission_create
    from tests.factories import demonstration

    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)

    submission = _with_rows_held(
        lambda: factory_lock(factory.pk),
        lambda: submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration()),
    )

    assert submission.pk is not None
