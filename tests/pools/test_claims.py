"""Claiming a task: the reward moves from available to reserved, or the claim is refused
with the contract's status and nothing changes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from farmers.models import FarmerProfile
from ledger.models import Transaction
from pools.models import Claim, Factory
from pools.services.claims import claim_create
from pools.services.factories import factory_close, factory_pause
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def _claim(as_user, farmer, factory):
    return as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/")


def _state(factory) -> tuple:
    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk)
    return (
        factory.available_account.balance,
        factory.reserved_account.balance,
        factory.in_flight_count,
        Claim.objects.filter(factory=factory).count(),
        Transaction.objects.count(),
    )


def _assert_refused(response, status: int, factory, before: tuple):
    assert response.status_code == status, response.json()
    assert "detail" in response.json()
    assert _state(factory) == before  # a refused call changes nothing


def test_a_claim_reserves_the_current_reward(as_user, creator, farmer):
    factory = funded_factory(creator, reward="0.2", deposit="1", claim_timeout_minutes=30)

    response = _claim(as_user, farmer, factory)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert {"id", "factory", "reward", "expires_at"} <= set(body)
    assert body["factory"] == factory.pk
    assert body["reward"] == "0.200000"
    expires_at = parse_datetime(body["expires_at"])
    assert timedelta(minutes=29) < expires_at - timezone.now() <= timedelta(minutes=30)
    available, reserved, in_flight, claims, _ = _state(factory)
    assert (available, reserved, in_flight, claims) == (800_000, 200_000, 1, 1)
    claim = Claim.objects.get(pk=body["id"])
    assert claim.farmer == farmer
    assert claim.reward == 200_000
    assert claim.status == Claim.Status.OPEN
    assert_audit_clean()


def test_a_claim_on_a_pool_below_one_reward_is_409(as_user, creator, farmer):
    factory = funded_factory(creator, reward="0.2", deposit="0.199999")
    before = _state(factory)

    _assert_refused(_claim(as_user, farmer, factory), 409, factory, before)


def test_the_last_reward_can_be_claimed_and_then_the_pool_refuses(as_user, creator):
    factory = funded_factory(creator, reward="0.2", deposit="0.4")
    assert _claim(as_user, FarmerFactory(), factory).status_code == 201
    assert _claim(as_user, FarmerFactory(), factory).status_code == 201
    before = _state(factory)
    assert before[:2] == (0, 400_000)

    _assert_refused(_claim(as_user, FarmerFactory(), factory), 409, factory, before)


def test_a_paused_factory_refuses_claims(as_user, creator, farmer):
    factory = funded_factory(creator)
    factory_pause(factory=factory, actor=creator)
    before = _state(factory)

    _assert_refused(_claim(as_user, farmer, factory), 409, factory, before)


def test_a_closed_factory_refuses_claims(as_user, creator, farmer):
    factory = funded_factory(creator)
    factory_close(factory=factory, actor=creator)
    before = _state(factory)

    _assert_refused(_claim(as_user, farmer, factory), 409, factory, before)


def test_a_draft_factory_refuses_claims(as_user, creator, farmer):
    factory = funded_factory(creator, deposit=None)
    before = _state(factory)

    _assert_refused(_claim(as_user, farmer, factory), 409, factory, before)


def test_a_full_factory_refuses_claims_counting_accepted_and_in_flight(as_user, creator):
    factory = funded_factory(creator, reward="0.1", deposit="5", target_count=10)
    Factory.objects.filter(pk=factory.pk).update(accepted_count=9)  # nine accepted already
    assert _claim(as_user, FarmerFactory(), factory).status_code == 201  # the tenth slot, in flight
    before = _state(factory)

    _assert_refused(_claim(as_user, FarmerFactory(), factory), 409, factory, before)


def test_a_farmer_below_the_minimum_reputation_gets_403(as_user, creator, farmer):
    factory = funded_factory(creator, min_reputation=Decimal("60"))
    before = _state(factory)

    response = _claim(as_user, farmer, factory)  # a newcomer has 50

    _assert_refused(response, 403, factory, before)
    assert "60" in response.json()["detail"]


def test_a_farmer_at_the_minimum_reputation_may_claim(as_user, creator, farmer):
    factory = funded_factory(creator, min_reputation=Decimal("60"))
    FarmerProfile.objects.create(user=farmer, reputation=Decimal("60"))

    assert _claim(as_user, farmer, factory).status_code == 201


def test_a_newcomer_meets_a_minimum_of_fifty(as_user, creator, farmer):
    factory = funded_factory(creator, min_reputation=Decimal("50"))

    assert _claim(as_user, farmer, factory).status_code == 201


def test_a_reputation_drop_below_the_minimum_closes_the_gate(as_user, creator, farmer):
    factory = funded_factory(creator, min_reputation=Decimal("40"))
    FarmerProfile.objects.create(user=farmer, reputation=Decimal("39.99"))
    before = _state(factory)

    _assert_refused(_claim(as_user, farmer, factory), 403, factory, before)


def test_a_second_open_claim_on_the_same_factory_is_409(as_user, creator, farmer):
    factory = funded_factory(creator)
    assert _claim(as_user, farmer, factory).status_code == 201
    before = _state(factory)

    _assert_refused(_claim(as_user, farmer, factory), 409, factory, before)


def test_a_farmer_may_hold_open_claims_on_different_factories(as_user, creator, farmer):
    first, second = funded_factory(creator), funded_factory(creator)

    assert _claim(as_user, farmer, first).status_code == 201
    assert _claim(as_user, farmer, second).status_code == 201


def test_the_per_farmer_limit_counts_submitted_claims_but_not_expired_ones(as_user, creator, farmer):
    factory = funded_factory(creator, per_farmer_limit=2)
    first = claim_create(factory=factory, farmer=farmer)
    Claim.objects.filter(pk=first.pk).update(status=Claim.Status.SUBMITTED)
    expired = claim_create(factory=factory, farmer=farmer)
    Claim.objects.filter(pk=expired.pk).update(status=Claim.Status.EXPIRED)
    second = claim_create(factory=factory, farmer=farmer)
    Claim.objects.filter(pk=second.pk).update(status=Claim.Status.SUBMITTED)
    before = _state(factory)

    _assert_refused(_claim(as_user, farmer, factory), 409, factory, before)
    assert _claim(as_user, FarmerFactory(), factory).status_code == 201  # the limit is per farmer


def test_a_creator_cannot_claim_even_their_own_factory(as_user, creator):
    factory = funded_factory(creator)
    before = _state(factory)

    _assert_refused(_claim(as_user, creator, factory), 403, factory, before)
    _assert_refused(_claim(as_user, CreatorFactory(), factory), 403, factory, before)


def test_claiming_needs_credentials(api, creator):
    factory = funded_factory(creator)
    before = _state(factory)

    assert api.post(f"/api/v1/factories/{factory.pk}/claims/").status_code == 401
    assert _state(factory) == before


def test_claiming_a_missing_factory_is_404(as_user, farmer):
    assert as_user(farmer).post("/api/v1/factories/999999/claims/").status_code == 404


def test_a_claim_uses_the_reward_in_force_when_it_is_made(as_user, creator):
    factory = funded_factory(creator, reward="0.2", deposit="2")
    early = _claim(as_user, FarmerFactory(), factory).json()
    rate = as_user(creator).post(f"/api/v1/factories/{factory.pk}/rate/", {"reward": "0.5"}, format="json")
    assert rate.status_code == 200
    late = _claim(as_user, FarmerFactory(), factory).json()

    assert (early["reward"], late["reward"]) == ("0.200000", "0.500000")
    assert _state(factory)[:2] == (1_300_000, 700_000)
    assert_audit_clean()
