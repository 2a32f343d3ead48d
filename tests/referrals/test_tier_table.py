"""The staff-editable tier table: the platform fee must cover both commissions at the highest
rate, thresholds rise with the tier, and a threshold change moves ambassadors' stake tiers."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from pools.selectors import economics_config
from referrals.models import CommissionTier, TierChange
from referrals.selectors import tier_rates
from referrals.services import commission_rates_validate, commission_tier_update, stake
from tests.referrals.conftest import clones_credit

pytestmark = pytest.mark.django_db


def tier(number: int) -> CommissionTier:
    return CommissionTier.objects.get(tier=number)


def test_the_default_table_is_one_to_five_percent_from_one_to_five_million_clones():
    table = list(CommissionTier.objects.values_list("tier", "commission_rate", "stake_threshold"))

    assert table == [(n, Decimal(n) / 100, Decimal(n * 1_000_000)) for n in range(1, 6)]
    assert tier_rates() == {0: Decimal(0), **{n: Decimal(n) / 100 for n in range(1, 6)}}


def test_a_rate_up_to_half_the_platform_fee_is_saved(staff):
    assert economics_config().platform_fee_rate == Decimal("0.10")

    commission_tier_update(
        tier=tier(5), commission_rate=Decimal("0.05"), stake_threshold=Decimal(6_000_000), actor=staff
    )
    commission_tier_update(
        tier=tier(2), commission_rate=Decimal("0.025"), stake_threshold=Decimal(2_000_000), actor=staff
    )

    assert tier(5).stake_threshold == 6_000_000
    assert tier(2).commission_rate == Decimal("0.025")


def test_a_rate_that_two_ambassadors_would_push_past_the_fee_is_refused(staff):
    with pytest.raises(ValidationError) as error:
        commission_tier_update(
            tier=tier(3), commission_rate=Decimal("0.05001"), stake_threshold=Decimal(3_000_000), actor=staff
        )

    message = error.value.message_dict["commission_rate"][0]
    assert "platform fee (10.00%)" in message and "5.00%" in message
    assert tier(3).commission_rate == Decimal("0.03")


def test_the_rule_follows_the_configured_platform_fee(staff):
    config = economics_config()
    config.platform_fee_rate = Decimal("0.20")
    config.save()

    commission_tier_update(
        tier=tier(5), commission_rate=Decimal("0.10"), stake_threshold=Decimal(5_000_000), actor=staff
    )

    assert tier(5).commission_rate == Decimal("0.10")
    with pytest.raises(ValidationError):
        commission_rates_validate(platform_fee_rate=Decimal("0.19"), tier_rates=[Decimal("0.01"), Decimal("0.10")])


def test_a_threshold_must_sit_between_its_neighbours(staff):
    with pytest.raises(ValidationError) as error:
        commission_tier_update(
            tier=tier(3), commission_rate=Decimal("0.03"), stake_threshold=Decimal(2_000_000), actor=staff
        )

    assert "stake_threshold" in error.value.message_dict
    with pytest.raises(ValidationError):
        commission_tier_update(
            tier=tier(1), commission_rate=Decimal("0.01"), stake_threshold=Decimal(2_500_000), actor=staff
        )
    assert tier(3).stake_threshold == 3_000_000


def test_lowering_a_threshold_lifts_the_ambassadors_who_now_reach_it(staff, ambassador):
    clones_credit(ambassador.user, "1500000")
    stake(ambassador=ambassador, amount="1500000")
    TierChange.objects.all().delete()

    commission_tier_update(
        tier=tier(2), commission_rate=Decimal("0.02"), stake_threshold=Decimal(1_500_000), actor=staff
    )

    ambassador.refresh_from_db()
    assert ambassador.stake_tier == 2
    change = TierChange.objects.get()
    assert (change.cause, change.old_tier, change.new_tier, change.changed_by) == ("thresholds", 1, 2, staff)


def test_a_rate_change_alone_moves_no_tier(staff, ambassador):
    clones_credit(ambassador.user, "1000000")
    stake(ambassador=ambassador, amount="1000000")
    before = TierChange.objects.count()

    commission_tier_update(
        tier=tier(1), commission_rate=Decimal("0.015"), stake_threshold=Decimal(1_000_000), actor=staff
    )

    assert TierChange.objects.count() == before
    assert tier_rates()[1] == Decimal("0.015")


def test_the_fee_rule_error_can_be_attached_to_any_forms_field():
    # The economics settings form attaches it to platform_fee_rate, the tier form to commission_rate.
    with pytest.raises(ValidationError) as error:
        commission_rates_validate(platform_fee_rate=Decimal("0.04"), tier_rates=[Decimal("0.01"), Decimal("0.05")])

    assert not hasattr(error.value, "error_dict")
    assert "platform fee (4.00%)" in error.value.messages[0]
    commission_rates_validate(platform_fee_rate=Decimal("0.10"), tier_rates=[Decimal("0.01"), Decimal("0.05")])
