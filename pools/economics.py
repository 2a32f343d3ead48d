"""The settlement formula of economics.md, as one pure function (no database).

    G          = floor(R x q)                      (0 when q < quality_threshold)
    F          = floor(G x platform_fee_rate)
    farmer     = G - F                             (the farmer keeps the rounding dust)
    farmer_amb = floor(G x farmer_ambassador_rate)  (0 without a referrer)
    factory_amb= floor(G x creator_ambassador_rate) (0 without a referrer)
    protocol   = F - farmer_amb - factory_amb       (never negative)
    back       = R - G                             (to the pool's available balance)

All amounts are integer base units of the pool's token, so flooring "to the token's decimals"
is integer floor division (`core.money.mul_floor`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import mul_floor


@dataclass(frozen=True, slots=True)
class Shares:
    reward: int
    gross: int
    fee: int
    farmer: int
    farmer_ambassador: int
    factory_ambassador: int
    protocol: int
    back_to_pool: int


def settlement_shares(
    *,
    reward: int,
    quality_score: Decimal,
    quality_threshold: Decimal,
    platform_fee_rate: Decimal,
    farmer_ambassador_rate: Decimal = Decimal(0),
    factory_ambassador_rate: Decimal = Decimal(0),
) -> Shares:
    if isinstance(reward, bool) or not isinstance(reward, int) or reward <= 0:
        raise ValueError("reward must be a positive integer of base units")
    for name, rate in (
        ("quality_score", quality_score),
        ("quality_threshold", quality_threshold),
        ("platform_fee_rate", platform_fee_rate),
        ("farmer_ambassador_rate", farmer_ambassador_rate),
        ("factory_ambassador_rate", factory_ambassador_rate),
    ):
        if not isinstance(rate, Decimal) or not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
            raise ValueError(f"{name} must be a Decimal in [0, 1], got {rate!r}")
    if farmer_ambassador_rate + factory_ambassador_rate > platform_fee_rate:
        # The protocol's share would go negative: commissions come out of the fee.
        raise ValueError("commission rates exceed the platform fee rate")

    gross = mul_floor(reward, quality_score) if quality_score >= quality_threshold else 0
    fee = mul_floor(gross, platform_fee_rate)
    farmer_ambassador = mul_floor(gross, farmer_ambassador_rate)
    factory_ambassador = mul_floor(gross, factory_ambassador_rate)
    shares = Shares(
        reward=reward,
        gross=gross,
        fee=fee,
        farmer=gross - fee,
        farmer_ambassador=farmer_ambassador,
        factory_ambassador=factory_ambassador,
        protocol=fee - farmer_ambassador - factory_ambassador,
        back_to_pool=reward - gross,
    )
    # floor(G*a) + floor(G*b) <= floor(G*(a+b)) <= floor(G*fee_rate) = F, so protocol >= 0, and
    # the parts sum to R by construction. Checked anyway (not with `assert`, which -O strips):
    # money must never move on a broken formula.
    parts = (shares.farmer, shares.farmer_ambassador, shares.factory_ambassador, shares.protocol, shares.back_to_pool)
    if min(parts) < 0 or sum(parts) != reward:
        raise ArithmeticError(f"settlement shares do not add up: {shares}")
    return shares
