"""The settlement formula of economics.md: its worked examples, exactly, and the invariants
every settlement keeps for any reward, score, token and configuration."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.money import format_amount, parse_amount
from pools.economics import Shares, settlement_shares

USDC_DECIMALS = 6
THRESHOLD = Decimal("0.5")
FEE_RATE = Decimal("0.10")


def usdc(text: str) -> int:
    return parse_amount(text, decimals=USDC_DECIMALS, allow_zero=True)


def shares_for(reward: str, q: str, farmer_amb_rate="0", factory_amb_rate="0") -> Shares:
    return settlement_shares(
        reward=usdc(reward),
        quality_score=Decimal(q),
        quality_threshold=THRESHOLD,
        platform_fee_rate=FEE_RATE,
        farmer_ambassador_rate=Decimal(farmer_amb_rate),
        factory_ambassador_rate=Decimal(factory_amb_rate),
    )


# economics.md, "Worked examples from the source, R = 0.20".
@pytest.mark.parametrize(
    ("q", "gross", "fee", "farmer", "back"),
    [
        ("0.90", "0.18", "0.018", "0.162", "0.02"),
        ("0.50", "0.10", "0.01", "0.09", "0.10"),
        ("0.49", "0", "0", "0", "0.20"),
    ],
)
def test_worked_examples_of_the_quality_table_are_exact(q, gross, fee, farmer, back):
    shares = shares_for("0.20", q)

    assert shares.reward == 200_000
    assert shares.gross == usdc(gross)
    assert shares.fee == usdc(fee)
    assert shares.farmer == usdc(farmer)
    assert shares.back_to_pool == usdc(back)
    assert shares.protocol == shares.fee  # no ambassadors: the protocol keeps the whole fee
    assert shares.farmer_ambassador == shares.factory_ambassador == 0


def test_below_the_threshold_the_whole_reward_goes_back_to_the_pool():
    shares = shares_for("0.20", "0.49")

    assert shares == Shares(
        reward=200_000,
        gross=0,
        fee=0,
        farmer=0,
        farmer_ambassador=0,
        factory_ambassador=0,
        protocol=0,
        back_to_pool=200_000,
    )


def test_a_score_exactly_at_the_threshold_is_paid():
    assert shares_for("0.20", "0.5").gross == usdc("0.10")
    assert shares_for("0.20", "0.4999").gross == 0


# economics.md, "Worked examples from the source, R = 0.20, q = 1.0" (tier N earns N% of G).
@pytest.mark.parametrize(
    ("scenario", "farmer_amb_rate", "factory_amb_rate", "farmer_amb", "factory_amb", "protocol"),
    [
        ("no referrals", "0", "0", "0", "0", "0.02"),
        ("farmer referred, tier 3", "0.03", "0", "0.006", "0", "0.014"),
        ("creator referred, tier 5", "0", "0.05", "0", "0.01", "0.01"),
        ("both referred, tier 5 + 5", "0.05", "0.05", "0.01", "0.01", "0.00"),
    ],
)
def test_worked_examples_of_the_referral_table_are_exact(
    scenario, farmer_amb_rate, factory_amb_rate, farmer_amb, factory_amb, protocol
):
    shares = shares_for("0.20", "1.0", farmer_amb_rate, factory_amb_rate)

    assert shares.gross == usdc("0.20"), scenario
    assert shares.fee == usdc("0.02"), scenario
    assert shares.farmer == usdc("0.18"), scenario  # commissions come out of the fee, never the farmer
    assert shares.farmer_ambassador == usdc(farmer_amb), scenario
    assert shares.factory_ambassador == usdc(factory_amb), scenario
    assert shares.protocol == usdc(protocol), scenario
    assert shares.back_to_pool == 0, scenario


def test_rounding_floors_each_share_and_the_farmer_keeps_the_fee_dust():
    # R = 7 units, q = 0.9: G = floor(6.3) = 6, F = floor(0.6) = 0, so the farmer gets all 6.
    shares = settlement_shares(
        reward=7, quality_score=Decimal("0.9"), quality_threshold=THRESHOLD, platform_fee_rate=FEE_RATE
    )
    assert (shares.gross, shares.fee, shares.farmer, shares.back_to_pool) == (6, 0, 6, 1)

    # R = 1.000001 USDC, q = 0.3333 (threshold 0): G = floor(333300.3333) = 333300.
    shares = settlement_shares(
        reward=1_000_001,
        quality_score=Decimal("0.3333"),
        quality_threshold=Decimal(0),
        platform_fee_rate=Decimal("0.10"),
        farmer_ambassador_rate=Decimal("0.03"),
        factory_ambassador_rate=Decimal("0.07"),
    )
    assert shares.gross == 333_300
    assert shares.fee == 33_330
    assert shares.farmer_ambassador == 9_999
    assert shares.factory_ambassador == 23_331
    assert shares.protocol == 0
    assert shares.back_to_pool == 666_701


def test_amounts_far_beyond_float_precision_are_exact():
    reward = 10**30 - 1  # a trillion 18-decimal tokens, less one unit
    shares = settlement_shares(
        reward=reward, quality_score=Decimal("0.9999"), quality_threshold=THRESHOLD, platform_fee_rate=FEE_RATE
    )
    assert shares.gross == (reward * 9999) // 10000
    assert shares.fee == shares.gross // 10
    assert shares.farmer + shares.protocol + shares.back_to_pool == reward


@pytest.mark.parametrize(
    "overrides",
    [
        {"reward": 0},
        {"reward": -1},
        {"reward": 1.5},
        {"quality_score": Decimal("1.0001")},
        {"quality_score": Decimal("-0.1")},
        {"quality_score": 0.9},
        {"platform_fee_rate": Decimal("1.5")},
        {"quality_threshold": Decimal("NaN")},
        {"farmer_ambassador_rate": Decimal("-0.01")},
        {"farmer_ambassador_rate": Decimal("0.06"), "factory_ambassador_rate": Decimal("0.05")},
    ],
)
def test_impossible_inputs_are_refused_instead_of_moving_wrong_money(overrides):
    arguments = {
        "reward": 200_000,
        "quality_score": Decimal("0.9"),
        "quality_threshold": THRESHOLD,
        "platform_fee_rate": FEE_RATE,
        **overrides,
    }
    with pytest.raises(ValueError):
        settlement_shares(**arguments)


def at_most(amount: int, units: int, rate: Decimal) -> bool:
    """amount <= units x rate, in exact integers (Decimal arithmetic rounds at 28 digits)."""
    numerator, denominator = rate.as_integer_ratio()
    return amount * denominator <= units * numerator


@st.composite
def settlement_inputs(draw):
    decimals = draw(st.integers(min_value=0, max_value=18))
    # Any amount a token can hold: up to 10**12 whole tokens (core.money.MAX_WHOLE_UNITS),
    # which for 18 decimals is 10**30 base units.
    reward = draw(st.integers(min_value=1, max_value=min(10**30, 10**12 * 10**decimals - 1)))
    score = Decimal(draw(st.integers(min_value=0, max_value=10_000))) / 10_000
    threshold = Decimal(draw(st.integers(min_value=0, max_value=10_000))) / 10_000
    # EconomicsConfig keeps 5 decimal places of the fee; each side's commission is at most half.
    fee_units = draw(st.integers(min_value=0, max_value=100_000))
    fee_rate = Decimal(fee_units) / 100_000
    farmer_rate = Decimal(draw(st.integers(min_value=0, max_value=fee_units // 2))) / 100_000
    factory_rate = Decimal(draw(st.integers(min_value=0, max_value=fee_units // 2))) / 100_000
    return decimals, reward, score, threshold, fee_rate, farmer_rate, factory_rate


@hypothesis_settings(max_examples=500, deadline=None)
@given(settlement_inputs())
@example((6, 200_000, Decimal("0.9"), Decimal("0.5"), Decimal("0.1"), Decimal("0.05"), Decimal("0.05")))
@example((18, 10**30 - 1, Decimal(1), Decimal(0), Decimal(1), Decimal("0.5"), Decimal("0.5")))
@example((0, 1, Decimal("0.5"), Decimal("0.5"), Decimal("0.1"), Decimal(0), Decimal(0)))
def test_every_settlement_splits_the_reward_exactly(inputs):
    decimals, reward, score, threshold, fee_rate, farmer_rate, factory_rate = inputs
    # The reward as the API would send it, in the token's decimals, parses back exactly.
    assert parse_amount(format_amount(reward, decimals=decimals), decimals=decimals) == reward

    shares = settlement_shares(
        reward=reward,
        quality_score=score,
        quality_threshold=threshold,
        platform_fee_rate=fee_rate,
        farmer_ambassador_rate=farmer_rate,
        factory_ambassador_rate=factory_rate,
    )

    parts = [shares.farmer, shares.farmer_ambassador, shares.factory_ambassador, shares.protocol, shares.back_to_pool]
    assert sum(parts) == reward
    assert all(isinstance(part, int) and part >= 0 for part in parts)
    assert shares.protocol >= 0
    assert 0 <= shares.gross <= reward
    assert at_most(shares.fee, shares.gross, fee_rate)
    assert shares.farmer == shares.gross - shares.fee
    assert shares.farmer_ambassador + shares.factory_ambassador + shares.protocol == shares.fee
    if score < threshold:
        assert shares.gross == 0 and shares.back_to_pool == reward
    else:
        # floor(R x q): never above the exact product, and less than one unit below it.
        assert at_most(shares.gross, reward, score)
        assert not at_most(shares.gross + 1, reward, score)
