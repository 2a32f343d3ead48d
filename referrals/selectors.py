"""Reads about ambassadors: who referred whom, tiers and commission rates."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .models import Ambassador, CommissionTier, Referral


@dataclass(frozen=True, slots=True)
class Commission:
    """The ambassador paid on one side of a settlement, and their rate (share of G)."""

    user_id: int | None
    rate: Decimal

    @classmethod
    def none(cls) -> Commission:
        return cls(user_id=None, rate=Decimal(0))


def tier_rates() -> dict[int, Decimal]:
    """{tier: commission_rate}; tier 0 (below the tier-1 stake) earns nothing."""
    rates = dict(CommissionTier.objects.values_list("tier", "commission_rate"))
    rates[0] = Decimal(0)
    return rates


def tier_for_stake(stake_whole_clones: Decimal) -> int:
    """The highest tier whose threshold the stake reaches (0 below tier 1)."""
    reached = CommissionTier.objects.filter(stake_threshold__lte=stake_whole_clones).order_by("-tier").first()
    return reached.tier if reached else 0


def commissions_for(
    *, farmer_id: int, creator_id: int, rates: dict[int, Decimal] | None = None
) -> tuple[Commission, Commission]:
    """(farmer's ambassador, factory's ambassador) with the tier rates in force now."""
    rates = tier_rates() if rates is None else rates
    referrals = {
        referral.user_id: referral.ambassador
        for referral in Referral.objects.select_related("ambassador").filter(user_id__in=[farmer_id, creator_id])
    }

    def commission(user_id: int) -> Commission:
        ambassador = referrals.get(user_id)
        if ambassador is None:
            return Commission.none()
        return Commission(user_id=ambassador.user_id, rate=rates.get(ambassador.tier, Decimal(0)))

    return commission(farmer_id), commission(creator_id)


def ambassador_for_user(user) -> Ambassador | None:
    return Ambassador.objects.filter(user=user).first()


def ambassador_by_code(code: str) -> Ambassador | None:
    if not code:
        return None
    return Ambassador.objects.select_related("user").filter(code=code.strip().upper()).first()


def max_commission_rate() -> Decimal:
    return max(tier_rates().values(), default=Decimal(0))
