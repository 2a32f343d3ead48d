"""Property: with the tier rates from the tier table, for any two tiers (0-5), reward, score and
token, the settlement parts are whole base units, never negative, and sum to R exactly."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.models import Token
from pools.economics import settlement_shares
from pools.selectors import economics_config
from referrals.selectors import tier_rates
from referrals.services import commission_rates_validate

pytestmark = pytest.mark.django_db

scores = st.decimals(min_value=0, max_value=1, places=4)
tiers = st.integers(min_value=0, max_value=5)


def check_parts(*, reward, score, rates, farmer_tier, factory_tier, config):
    shares = settlement_shares(
        reward=reward,
        quality_score=score,
        quality_threshold=config.quality_threshold,
        platform_fee_rate=config.platform_fee_rate,
        farmer_ambassador_rate=rates[farmer_tier],
        factory_ambassador_rate=rates[factory_tier],
    )
    parts = [
        shares.farmer,
        shares.farmer_ambassador,
        shares.factory_ambassador,
        shares.protocol,
        shares.back_to_pool,
    ]
    assert sum(parts) == reward
    assert all(isinstance(part, int) and part >= 0 for part in parts)
    assert shares.farmer + shares.farmer_ambassador + shares.factory_ambassador + shares.protocol == shares.gross
    # Each commission is floor(G x rate): never more than its exact share, less by under one unit.
    for commission, rate in (
        (shares.farmer_ambassador, rates[farmer_tier]),
        (shares.factory_ambassador, rates[factory_tier]),
    ):
        exact = Fraction(shares.gross) * Fraction(rate)  # exact: no Decimal context rounding
        assert commission <= exact < commission + 1
    if farmer_tier == 0:
        assert shares.farmer_ambassador == 0
    if factory_tier == 0:
        assert shares.factory_ambassador == 0
    if score < config.quality_threshold:
        assert shares.back_to_pool == reward


def test_settlement_parts_sum_to_the_reward_with_the_default_tier_rates():
    config = economics_config()
    rates = tier_rates()
    decimals = sorted(set(Token.objects.values_list("decimals", flat=True)))

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        farmer_tier=tiers,
        factory_tier=tiers,
        score=scores,
        token_decimals=st.sampled_from(decimals),
        whole=st.integers(min_value=0, max_value=10**6),
        fraction=st.integers(min_value=0, max_value=10**18),
    )
    def check(farmer_tier, factory_tier, score, token_decimals, whole, fraction):
        reward = whole * 10**token_decimals + fraction % 10**token_decimals
        if reward == 0:
            reward = 1
        check_parts(
            reward=reward,
            score=score,
            rates=rates,
            farmer_tier=farmer_tier,
            factory_tier=factory_tier,
            config=config,
        )

    check()


def test_settlement_parts_sum_to_the_reward_for_any_tier_table_staff_may_save():
    """Random fee rates and tier tables that pass the tier-table rule (2 x highest <= fee)."""
    config = economics_config()

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        data=st.data(),
        fee_units=st.integers(min_value=0, max_value=100_000),
        threshold=scores,
        farmer_tier=tiers,
        factory_tier=tiers,
        score=scores,
        reward=st.integers(min_value=1, max_value=10**30),
    )
    def check(data, fee_units, threshold, farmer_tier, factory_tier, score, reward):
        fee = Decimal(fee_units).scaleb(-5)
        table = data.draw(st.lists(st.integers(min_value=0, max_value=fee_units // 2), min_size=5, max_size=5))
        table = [Decimal(units).scaleb(-5) for units in table]
        commission_rates_validate(platform_fee_rate=fee, tier_rates=table)  # staff could save it
        config.platform_fee_rate, config.quality_threshold = fee, threshold
        check_parts(
            reward=reward,
            score=score,
            rates={0: Decimal(0), **dict(zip(range(1, 6), table, strict=True))},
            farmer_tier=farmer_tier,
            factory_tier=factory_tier,
            config=config,
        )

    check()
