"""Claims that time out: the periodic task returns their reservation to the pool, once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from ledger.models import Transaction
from pools.models import Claim, Factory
from pools.services.claims import claim_create, claim_expire, claims_expire_due
from pools.tasks import claims_expire_task
from tests.factories import FarmerFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def _pool(factory) -> tuple[int, int, int]:
    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk)
    return factory.available_account.balance, factory.reserved_account.balance, factory.in_flight_count


def test_an_overdue_claim_returns_its_reservation_to_the_pool(creator, farmer):
    factory = funded_factory(creator, reward="0.2", deposit="1", claim_timeout_minutes=15)
    claim = claim_create(factory=factory, farmer=farmer)
    assert _pool(factory) == (800_000, 200_000, 1)

    expired = claims_expire_due(now=claim.expires_at + timedelta(seconds=1))

    assert expired == 1
    assert _pool(factory) == (1_000_000, 0, 0)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.EXPIRED
    assert claim.closed_at is not None
    assert_audit_clean()


def test_a_claim_is_not_expired_before_its_time(creator, farmer):
    factory = funded_factory(creator, claim_timeout_minutes=15)
    claim = claim_create(factory=factory, farmer=farmer)

    assert claims_expire_due(now=claim.expires_at - timedelta(seconds=1)) == 0
    assert claim_expire(claim_id=claim.pk, now=claim.expires_at - timedelta(seconds=1)) is False

    claim.refresh_from_db()
    assert claim.status == Claim.Status.OPEN
    assert _pool(factory)[1] == claim.reward


def test_expiring_twice_returns_the_reservation_once(creator):
    factory = funded_factory(creator, reward="0.2", deposit="1")
    claims = [claim_create(factory=factory, farmer=FarmerFactory()) for _ in range(3)]
    later = max(claim.expires_at for claim in claims) + timedelta(minutes=1)

    assert claims_expire_due(now=later) == 3
    transactions = Transaction.objects.count()
    assert claims_expire_due(now=later) == 0
    assert claim_expire(claim_id=claims[0].pk, now=later) is False

    assert Transaction.objects.count() == transactions
    assert _pool(factory) == (1_000_000, 0, 0)
    assert_audit_clean()


def test_only_the_overdue_claims_expire(creator):
    factory = funded_factory(creator, reward="0.2", deposit="1", claim_timeout_minutes=10)
    early = claim_create(factory=factory, farmer=FarmerFactory())
    late = claim_create(factory=factory, farmer=FarmerFactory())
    Claim.objects.filter(pk=late.pk).update(expires_at=early.expires_at + timedelta(minutes=30))

    assert claims_expire_due(now=early.expires_at + timedelta(minutes=1)) == 1

    assert Claim.objects.get(pk=early.pk).status == Claim.Status.EXPIRED
    assert Claim.objects.get(pk=late.pk).status == Claim.Status.OPEN
    assert _pool(factory) == (800_000, 200_000, 1)
    assert_audit_clean()


def test_an_expired_claim_cannot_be_submitted(as_user, creator, farmer):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)
    claims_expire_due(now=claim.expires_at + timedelta(seconds=1))
    before = _pool(factory)

    response = as_user(farmer).post(
        f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
    )

    assert response.status_code == 409, response.json()
    assert not Claim.objects.filter(pk=claim.pk, submission__isnull=False).exists()
    assert _pool(factory) == before


def test_an_overdue_claim_cannot_be_submitted_even_before_the_task_runs(as_user, creator, farmer):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)
    Claim.objects.filter(pk=claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = as_user(farmer).post(
        f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
    )

    assert response.status_code == 409, response.json()
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.OPEN  # the task returns the money


def test_a_farmer_may_claim_again_after_their_claim_expired(as_user, creator, farmer):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)
    claims_expire_due(now=claim.expires_at + timedelta(seconds=1))

    assert as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/").status_code == 201


def test_the_periodic_task_is_scheduled_and_expires_due_claims(creator, farmer):
    schedule = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == "pools.claims_expire"]
    assert len(schedule) == 1
    assert schedule[0]["schedule"] <= 300  # reservations do not linger for long
    assert claims_expire_task.name == "pools.claims_expire"
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)
    Claim.objects.filter(pk=claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    result = claims_expire_task.delay()

    assert result.get() == 1
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.EXPIRED
    assert _pool(factory)[1] == 0
    assert_audit_clean()
