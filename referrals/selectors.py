"""Reads about ambassadors: who referred whom, tiers, commission rates, stakes and earnings.

Settlement asks `commissions_for` for the rates in force at the moment it settles; nothing here
imports settlement (dependencies point one way: pools -> referrals -> ledger).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Sum
from django.utils.module_loading import import_string

from core.db import AnyId  # noqa: F401 - registers the `__any_id` lookup
from ledger.models import Account, Token

from .models import Ambassador, CommissionDay, CommissionTier, Referral, Unstake

TIERS = (1, 2, 3, 4, 5)
STAKE_TOKEN = "CLONES"


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


def commissions_for_many(user_ids, *, rates: dict[int, Decimal] | None = None) -> dict[int, Commission]:
    """{user_id: the commission of whoever referred them} with the tiers and rates in force
    now, in one query; users nobody referred map to `Commission.none()`.

    A tier-0 ambassador keeps their user id with a rate of 0: recorded, credited nothing. So
    does the ambassador of a linked referral (a self-referral ring, `referrals_linked`): the
    share stays with the platform."""
    result = dict.fromkeys(user_ids, Commission.none())
    if not result:
        return result
    referrals = list(Referral.objects.select_related("ambassador").filter(user_id__any_id=result))
    if not referrals:  # nobody to pay: the tiers need not be read (a settlement batch's usual case)
        return result
    rates = tier_rates() if rates is None else rates
    linked = referrals_linked(referrals)
    for referral in referrals:
        ambassador = referral.ambassador
        rate = Decimal(0) if referral.user_id in linked else rates.get(ambassador.tier, Decimal(0))
        result[referral.user_id] = Commission(user_id=ambassador.user_id, rate=rate)
    return result


def referrals_linked(referrals) -> dict[int, str]:
    """{referred user id: why} for the referrals (with their ambassadors loaded) whose
    ambassador and referred user are, by what we can see, one person: linked accounts
    (`accounts.selectors.users_linked`: the same wallet, the same network and browser, money
    between them, a factory funded by the other; docs/security.md, "Account links")."""
    from accounts.selectors import users_linked

    referrals = list(referrals)
    if not referrals:
        return {}
    links = users_linked({referral.user_id for referral in referrals})
    linked = {}
    for referral in referrals:
        why = links[referral.user_id].get(referral.ambassador.user_id)
        if why:
            linked[referral.user_id] = why
    return linked


def commissions_for(
    *, farmer_id: int, creator_id: int, rates: dict[int, Decimal] | None = None
) -> tuple[Commission, Commission]:
    """(farmer's ambassador, factory's ambassador) with the tiers and rates in force now."""
    found = commissions_for_many([farmer_id, creator_id], rates=rates)
    return found[farmer_id], found[creator_id]


def ambassador_for_user(user) -> Ambassador | None:
    if not getattr(user, "pk", None):
        return None
    return Ambassador.objects.filter(user=user).first()


def ambassador_by_code(code: str | None) -> Ambassador | None:
    if not code:
        return None
    return Ambassador.objects.select_related("user").filter(code=code.strip().upper()).first()


def max_commission_rate() -> Decimal:
    return max(tier_rates().values(), default=Decimal(0))


# ---- For the ambassador dashboard ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StakePosition:
    """An ambassador's CLONES, in base units, and what the next tier needs."""

    token: Token
    balance: int
    staked: int
    unbonding: int
    tier: int
    stake_tier: int
    next_tier: int | None
    next_tier_needs: int  # more base units to stake to reach `next_tier` (0 at the top)

    def money(self, units: int):
        return self.token.money(units)


def stake_position(
    ambassador: Ambassador, *, tiers: list[CommissionTier] | None = None, token: Token | None = None
) -> StakePosition:
    """`tiers` (every CommissionTier) and `token` (the stake token) save their queries when the
    caller has them already."""
    if token is None or token.symbol != STAKE_TOKEN:
        token = Token.objects.get(symbol=STAKE_TOKEN)
    balances = dict(
        Account.objects.filter(holder=f"user:{ambassador.user_id}", token=token).values_list("kind", "balance")
    )
    staked = int(balances.get(Account.Kind.USER_STAKE, 0))
    if tiers is None:
        upper = CommissionTier.objects.filter(tier__gt=ambassador.stake_tier).order_by("tier").first()
    else:
        upper = min((t for t in tiers if t.tier > ambassador.stake_tier), key=lambda t: t.tier, default=None)
    needs = 0
    if upper is not None:
        needs = max(0, int(upper.stake_threshold) * 10**token.decimals - staked)
    return StakePosition(
        token=token,
        balance=int(balances.get(Account.Kind.USER_BALANCE, 0)),
        staked=staked,
        unbonding=int(balances.get(Account.Kind.USER_UNBONDING, 0)),
        tier=ambassador.tier,
        stake_tier=ambassador.stake_tier,
        next_tier=upper.tier if upper else None,
        next_tier_needs=needs,
    )


def unstakes_pending(ambassador: Ambassador):
    return Unstake.objects.filter(ambassador=ambassador, status=Unstake.Status.PENDING).order_by("available_at")


def referred_users(ambassador: Ambassador):
    """The farmers and creators this ambassador referred, newest first."""
    return Referral.objects.filter(ambassador=ambassador).select_related("user").order_by("-created_at", "-id")


def ambassador_earnings(ambassador: Ambassador, *, since: date | None = None) -> list[dict]:
    """Commissions earned, per token and day: [{day, token, farmer_side, factory_side}] in
    base units, oldest first, from `since` on (all days without it). Reads the rollup
    (`CommissionDay`): one row per day and token, however many settlements they sum."""
    rows = CommissionDay.objects.filter(user_id=ambassador.user_id)
    if since is not None:
        rows = rows.filter(day__gte=since)
    return [
        {"day": day, "token": symbol, "farmer_side": farmer, "factory_side": factory}
        for day, symbol, farmer, factory in rows.order_by("day", "token__symbol").values_list(
            "day", "token__symbol", "farmer_side", "factory_side"
        )
    ]


def ambassador_earnings_by_side(ambassador: Ambassador) -> dict[str, tuple[int, int]]:
    """{token symbol: (farmer side, creator side)} all commissions earned, in base units, from
    the rollup: the farmer side on work by the farmers referred, the creator side on work in
    the factories of the creators referred (economics.md)."""
    sides = (
        CommissionDay.objects.filter(user_id=ambassador.user_id)
        .values("token__symbol")
        .annotate(farmer=Sum("farmer_side"), factory=Sum("factory_side"))
        .order_by()
        .values_list("token__symbol", "farmer", "factory")
    )
    return {symbol: (int(farmer or 0), int(factory or 0)) for symbol, farmer, factory in sides}


def ambassador_earnings_totals(ambassador: Ambassador) -> dict[str, int]:
    """{token symbol: all commissions earned, both sides} in base units, from the rollup."""
    totals = (
        CommissionDay.objects.filter(user_id=ambassador.user_id)
        .values("token__symbol")
        .annotate(total=Sum(F("farmer_side") + F("factory_side")))
        .order_by()
        .values_list("token__symbol", "total")
    )
    return {symbol: int(total or 0) for symbol, total in totals}


def commission_rollup_expected() -> dict[tuple, tuple[int, int]]:
    """{(user id, day, token id): (farmer side, factory side)} recomputed from the settled
    submissions, the way the rollup should hold them (zero sums left out).

    The settled submissions are pools' rows, and pools sits above referrals: the recomputation
    lives there (pools.selectors.commission_rollup_expected) and referrals reaches it through
    settings.REFERRALS_ROLLUP_SOURCE, a dotted path, as the ledger reaches its audit checks
    (LEDGER_AUDIT_CHECKS). The dependency is named in configuration, not imported."""
    return import_string(settings.REFERRALS_ROLLUP_SOURCE)()


def platform_economics():
    """The staff-edited economics settings (pools.EconomicsConfig: platform fee, unstake
    cooldown), through settings.REFERRALS_ECONOMICS_CONFIG for the same reason."""
    return import_string(settings.REFERRALS_ECONOMICS_CONFIG)()


def audit_commission_rollup() -> list[str]:
    """Ledger audit cross-check (settings.LEDGER_AUDIT_CHECKS): the commission rollup equals
    the sums over the settled submissions."""
    expected = commission_rollup_expected()
    stored = {
        (user_id, day, token_id): (int(farmer), int(factory))
        for user_id, day, token_id, farmer, factory in CommissionDay.objects.values_list(
            "user_id", "day", "token_id", "farmer_side", "factory_side"
        ).iterator(chunk_size=5000)
        if farmer or factory
    }
    mismatches = []
    for key in sorted(set(expected) | set(stored)):
        if expected.get(key, (0, 0)) != stored.get(key, (0, 0)):
            user_id, day, token_id = key
            mismatches.append(
                f"commission rollup of user {user_id} on {day} in token {token_id}: stores "
                f"{stored.get(key, (0, 0))}, settled submissions sum to {expected.get(key, (0, 0))} "
                "(farmer side, factory side)"
            )
    return mismatches[:20]


def users_referral_linked_to(user_id: int) -> set[int]:
    """The user's referrer and the users they referred (a direct referral either way)."""
    referrer = Referral.objects.filter(user_id=user_id).values_list("ambassador__user_id", flat=True)
    referred = Referral.objects.filter(ambassador__user_id=user_id).values_list("user_id", flat=True)
    return set(referrer) | set(referred)
