"""Many farmers claim at once from a pool that holds exactly K rewards: the pool never
promises more than it holds (PostgreSQL, real threads, each with its own connection)."""

import pytest

from core.exceptions import Conflict
from pools.models import Claim, Factory
from pools.services.claims import claim_create
from tests.concurrency import all_at_once
from tests.conftest import client_for
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

REWARD_UNITS = 200_000  # 0.2 USDC


def _claim_all_at_once(factory: Factory, farmers) -> list[str]:
    """One claim per farmer, all at once: "claimed", "conflict", or the repr of anything else
    (which fails the assertions)."""
    results = all_at_once([lambda farmer=farmer: claim_create(factory=factory, farmer=farmer) for farmer in farmers])
    return [
        "conflict" if isinstance(result, Conflict) else repr(result) if isinstance(result, Exception) else "claimed"
        for result in results
    ]


@pytest.mark.parametrize(("rewards_in_pool", "farmers_count"), [(5, 12), (1, 6)])
def test_concurrent_claims_drain_the_pool_to_exactly_zero(rewards_in_pool, farmers_count):
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit=f"{0.2 * rewards_in_pool:.1f}")
    farmers = [FarmerFactory() for _ in range(farmers_count)]

    outcomes = _claim_all_at_once(factory, farmers)

    assert sorted(outcomes) == ["claimed"] * rewards_in_pool + ["conflict"] * (farmers_count - rewards_in_pool), (
        outcomes
    )
    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk)
    assert factory.available_account.balance == 0
    assert factory.reserved_account.balance == rewards_in_pool * REWARD_UNITS
    assert factory.in_flight_count == rewards_in_pool
    assert Claim.objects.filter(factory=factory, status=Claim.Status.OPEN).count() == rewards_in_pool
    assert_audit_clean()

    # And then the drained pool keeps refusing, through the API too.
    response = client_for(FarmerFactory()).post(f"/api/v1/factories/{factory.pk}/claims/")
    assert response.status_code == 409


def test_concurrent_claims_never_overfill_the_target_count():
    factory = funded_factory(CreatorFactory(), reward="0.1", deposit="10", target_count=10)
    Factory.objects.filter(pk=factory.pk).update(accepted_count=7)  # three slots left, money for many
    farmers = [FarmerFactory() for _ in range(8)]

    outcomes = _claim_all_at_once(factory, farmers)

    assert sorted(outcomes) == ["claimed"] * 3 + ["conflict"] * 5, outcomes
    factory.refresh_from_db()
    assert factory.in_flight_count == 3
    assert factory.reserved_account.balance == 3 * 100_000
    assert_audit_clean()


def test_one_farmer_claiming_from_many_threads_holds_one_claim():
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="10")
    farmer = FarmerFactory()

    outcomes = _claim_all_at_once(factory, [farmer] * 6)

    assert sorted(outcomes) == ["claimed"] + ["conflict"] * 5, outcomes
    assert Claim.objects.filter(factory=factory, farmer=farmer).count() == 1
    factory.refresh_from_db()
    assert factory.reserved_account.balance == REWARD_UNITS
    assert_audit_clean()
