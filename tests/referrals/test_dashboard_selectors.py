"""Reads the ambassador dashboard uses: stake position and next tier, referred users, earnings."""

from decimal import Decimal

import pytest

from pools.models import Submission
from pools.services.claims import claim_create
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create
from referrals.selectors import ambassador_earnings, referred_users, stake_position, unstakes_pending
from referrals.services import ambassador_set_tier, referral_attach, stake, unstake
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import funded_factory
from tests.referrals.conftest import clones_credit, clones_units

pytestmark = pytest.mark.django_db


def test_stake_position_says_what_the_next_tier_needs(ambassador):
    clones_credit(ambassador.user, "2000000")
    ambassador = stake(ambassador=ambassador, amount="1250000")
    unstake(ambassador=ambassador, amount="250000")
    ambassador.refresh_from_db()

    position = stake_position(ambassador)

    assert (position.tier, position.stake_tier, position.next_tier) == (1, 1, 2)
    assert position.staked == clones_units(1000000)
    assert position.unbonding == clones_units(250000)
    assert position.balance == clones_units(750000)
    assert position.next_tier_needs == clones_units(1000000)
    assert str(position.money(position.next_tier_needs)) == "1000000 CLONES"
    assert [request.amount for request in unstakes_pending(ambassador)] == [clones_units(250000)]


def test_at_the_top_tier_nothing_more_is_needed(ambassador):
    clones_credit(ambassador.user, "6000000")
    ambassador = stake(ambassador=ambassador, amount="6000000")

    position = stake_position(ambassador)

    assert (position.tier, position.next_tier, position.next_tier_needs) == (5, None, 0)


def test_referred_users_are_listed_newest_first(ambassador):
    first, second = FarmerFactory(), CreatorFactory()
    referral_attach(user=first, ambassador=ambassador)
    referral_attach(user=second, ambassador=ambassador)

    assert [referral.user for referral in referred_users(ambassador)] == [second, first]


def test_earnings_are_summed_per_day_and_token_on_each_side(staff, ambassador):
    ambassador_set_tier(ambassador=ambassador, tier=5, actor=staff)
    farmer, creator = FarmerFactory(), CreatorFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    referral_attach(user=creator, ambassador=ambassador)
    for token, reward in (("USDC", "0.2"), ("USDC", "0.2"), ("SOL", "0.5")):
        factory = funded_factory(creator, token=token, reward=reward, deposit="2")
        claim = claim_create(factory=factory, farmer=farmer)
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
        Submission.objects.filter(pk=submission.pk).update(quality_score=Decimal("1"), status="scoring")
        submission_settle(submission_id=submission.pk)

    rows = {row["token"]: row for row in ambassador_earnings(ambassador)}

    assert set(rows) == {"SOL", "USDC"}
    assert (rows["USDC"]["farmer_side"], rows["USDC"]["factory_side"]) == (20_000, 20_000)  # 2 x 5% of 0.2
    assert (rows["SOL"]["farmer_side"], rows["SOL"]["factory_side"]) == (25_000_000, 25_000_000)  # 5% of 0.5
    assert ambassador_earnings(ambassador)[0]["day"] is not None
