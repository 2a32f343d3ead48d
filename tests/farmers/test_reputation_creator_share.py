"""One creator cannot lift a farmer to premium on their own (issue 20 row 2): no creator's work
is more than FORGE_REPUTATION_MAX_CREATOR_SHARE (0.25) of the evidence behind a reputation, so a
creator we cannot link to the farmer (a sock puppet not yet detected), paying a real reward for
excellent work, still lifts them to 62.50 at most. The same work for enough creators counts in
full. Before, 100 such submissions for one creator made 98.54 and opened every premium factory."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from farmers.selectors import reputation_of
from farmers.services import reputation_recompute
from pools.models import Claim
from tests.factories import CreatorFactory, FarmerFactory
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

WORK = 100  # excellent, on-time submissions paying 1 USDC each


def _work_for(creators: int, farmer) -> Decimal:
    factories = [funded_factory(CreatorFactory(), reward="1", deposit="100") for _ in range(creators)]
    for index in range(WORK):
        settle(factories[index % creators], farmer, "1")
    return reputation_recompute(farmer_id=farmer.pk).reputation


@pytest.fixture
def premium():
    return funded_factory(CreatorFactory(), title="Premium", min_reputation=Decimal("80"))


def test_a_hundred_excellent_paid_submissions_for_one_creator_do_not_reach_premium(as_user, premium):
    farmer = FarmerFactory()

    assert _work_for(1, farmer) == Decimal("62.50")  # 50 + 50 x 0.25, however much work

    response = as_user(farmer).post(f"/api/v1/factories/{premium.pk}/claims/")
    assert response.status_code == 403
    assert "17.50 points to go" in response.json()["detail"]
    assert not Claim.objects.filter(factory=premium).exists()
    profile = reputation_recompute(farmer_id=farmer.pk)
    assert (profile.breakdown["creators"], profile.breakdown["limited_creators"]) == (1, 1)
    assert_audit_clean()


def test_the_same_work_spread_over_four_creators_reaches_premium(as_user, premium):
    farmer = FarmerFactory()

    reputation = _work_for(4, farmer)

    assert reputation >= Decimal("98.50")  # 98.54 for work settled at one moment: no creator limited
    assert reputation_recompute(farmer_id=farmer.pk).breakdown["limited_creators"] == 0
    response = as_user(farmer).post(f"/api/v1/factories/{premium.pk}/claims/")
    assert response.status_code == 201, response.json()
    assert_audit_clean()


@override_settings(FORGE_REPUTATION_MAX_CREATOR_SHARE=1.0)
def test_a_share_of_one_turns_the_limit_off():
    farmer = FarmerFactory()
    factory = funded_factory(CreatorFactory(), reward="1", deposit="10")
    for _ in range(6):
        settle(factory, farmer, "1")

    reputation_recompute(farmer_id=farmer.pk)

    assert reputation_of(farmer) == Decimal("83.33")  # every part (1.5 + 6) / 9, as before


def test_scores_earned_before_the_cap_are_recomputed_after_the_upgrade(settings):
    """Migration 0004 flags every profile, and the refresh task's batch brings an old score,
    earned from one creator before the cap, down to the cap."""
    from importlib import import_module

    from django.apps import apps

    from farmers.models import FarmerProfile
    from farmers.services import reputation_refresh_flagged

    farmer = FarmerFactory()
    settings.FORGE_REPUTATION_MAX_CREATOR_SHARE = 1  # the score as it was before the cap
    assert _work_for(1, farmer) > Decimal("98")
    settings.FORGE_REPUTATION_MAX_CREATOR_SHARE = 0.25  # the upgrade

    migration = import_module("farmers.migrations.0004_recompute_for_creator_share")
    migration.flag_every_profile(apps, None)
    assert FarmerProfile.objects.get(user=farmer).needs_refresh is True
    assert reputation_refresh_flagged() >= 1
    assert reputation_of(farmer) == Decimal("62.50")
    assert_audit_clean()
