"""Writes for referrals: becoming an ambassador, attribution at signup, staking CLONES,
tiers (by stake or set by staff) and the tier-table rule that the fee covers commissions."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from forge.exceptions import Conflict, Forbidden
from forge.money import parse_amount
from ledger.models import Account, Token
from ledger.services import Leg, account_get, transaction_post

from .models import Ambassador, CommissionTier, Referral, TierChange, Unstake
from .selectors import tier_for_stake

# No 0/O, 1/I/L: codes are read aloud and typed from screenshots.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
STAKE_TOKEN = "CLONES"


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@transaction.atomic
def ambassador_create(*, user) -> tuple[Ambassador, bool]:
    """Make `user` an ambassador (idempotent). Returns (ambassador, created)."""
    existing = Ambassador.objects.filter(user=user).first()
    if existing:
        return existing, False
    if user.role == "grader":
        raise Forbidden("Service accounts cannot be ambassadors.")
    for _ in range(10):
        try:
            with transaction.atomic():
                return Ambassador.objects.create(user=user, code=_new_code()), True
        except IntegrityError:
            existing = Ambassador.objects.filter(user=user).first()
            if existing:  # created concurrently for the same user
                return existing, False
    raise RuntimeError("could not draw a unique referral code")


def referral_attach(*, user, ambassador: Ambassador) -> Referral:
    """Attribute `user` to `ambassador`: once, permanently, never to themselves."""
    if ambassador.user_id == user.pk:
        raise ValidationError({"referral_code": ["You cannot use your own referral code."]})
    if Referral.objects.filter(user=user).exists():
        raise Conflict("This account was already referred.")
    return Referral.objects.create(user=user, ambassador=ambassador)


def _stake_token() -> Token:
    return Token.objects.get(symbol=STAKE_TOKEN)


def _accounts(ambassador: Ambassador, token: Token) -> dict[str, Account]:
    holder = f"user:{ambassador.user_id}"
    return {
        kind: account_get(kind=kind, holder=holder, token=token)
        for kind in (Account.Kind.USER_BALANCE, Account.Kind.USER_STAKE, Account.Kind.USER_UNBONDING)
    }


def _record_tier(ambassador: Ambassador, *, old: int, cause: str, actor=None) -> None:
    if ambassador.tier != old:
        TierChange.objects.create(
            ambassador=ambassador, old_tier=old, new_tier=ambassador.tier, cause=cause, changed_by=actor
        )


def stake_tier_refresh(*, ambassador: Ambassador) -> Ambassador:
    """Set the tier the stake reaches now, recording a change (call inside a transaction)."""
    token = _stake_token()
    stake = _accounts(ambassador, token)[Account.Kind.USER_STAKE].balance
    old = ambassador.tier
    ambassador.stake_tier = tier_for_stake(Decimal(stake).scaleb(-token.decimals))
    ambassador.save(update_fields=["stake_tier"])
    _record_tier(ambassador, old=old, cause=TierChange.Cause.STAKE)
    return ambassador


@transaction.atomic
def stake(*, ambassador: Ambassador, amount) -> Ambassador:
    """Move CLONES from the ambassador's balance to their stake."""
    ambassador = Ambassador.objects.select_for_update().get(pk=ambassador.pk)
    token = _stake_token()
    units = parse_amount(amount, decimals=token.decimals)
    accounts = _accounts(ambassador, token)
    transaction_post(
        key=f"stake:{ambassador.pk}:{secrets.token_hex(8)}",
        kind="stake",
        legs=[Leg(accounts[Account.Kind.USER_BALANCE], -units), Leg(accounts[Account.Kind.USER_STAKE], units)],
        memo=f"Ambassador {ambassador.code} stakes {token.money(units)}",
        actor=ambassador.user,
    )
    return stake_tier_refresh(ambassador=ambassador)


@transaction.atomic
def unstake(*, ambassador: Ambassador, amount) -> Unstake:
    """Start unstaking: the amount leaves the stake at once (the tier follows) and returns to
    the balance after the cooldown."""
    from pools.selectors import economics_config

    ambassador = Ambassador.objects.select_for_update().get(pk=ambassador.pk)
    token = _stake_token()
    units = parse_amount(amount, decimals=token.decimals)
    accounts = _accounts(ambassador, token)
    now = timezone.now()
    request = Unstake.objects.create(
        ambassador=ambassador,
        amount=units,
        created_at=now,
        available_at=now + timedelta(hours=economics_config().unstake_cooldown_hours),
    )
    transaction_post(
        key=f"unstake:{request.pk}",
        kind="unstake",
        legs=[Leg(accounts[Account.Kind.USER_STAKE], -units), Leg(accounts[Account.Kind.USER_UNBONDING], units)],
        memo=f"Ambassador {ambassador.code} unstakes {token.money(units)}",
        actor=ambassador.user,
    )
    stake_tier_refresh(ambassador=ambassador)
    return request


@transaction.atomic
def unstake_release(*, unstake_id: int, now=None) -> bool:
    now = now or timezone.now()
    updated = Unstake.objects.filter(pk=unstake_id, status=Unstake.Status.PENDING, available_at__lte=now).update(
        status=Unstake.Status.RELEASED, released_at=now
    )
    if not updated:
        return False
    request = Unstake.objects.select_related("ambassador").get(pk=unstake_id)
    accounts = _accounts(request.ambassador, _stake_token())
    transaction_post(
        key=f"unstake-release:{request.pk}",
        kind="unstake_release",
        legs=[
            Leg(accounts[Account.Kind.USER_UNBONDING], -request.amount),
            Leg(accounts[Account.Kind.USER_BALANCE], request.amount),
        ],
        memo=f"Unstake {request.pk} released after cooldown",
    )
    return True


def unstakes_release_due(*, now=None) -> int:
    now = now or timezone.now()
    due = Unstake.objects.filter(status=Unstake.Status.PENDING, available_at__lte=now).values_list("pk", flat=True)[
        :1000
    ]
    return sum(unstake_release(unstake_id=pk, now=now) for pk in list(due))


@transaction.atomic
def ambassador_set_tier(*, ambassador: Ambassador, tier: int | None, actor) -> Ambassador:
    """Staff override of a tier (None returns the ambassador to their stake's tier)."""
    if not actor.is_staff:
        raise Forbidden("Only staff can set an ambassador's tier.")
    if tier is not None and (isinstance(tier, bool) or not isinstance(tier, int) or not 0 <= tier <= 5):
        raise ValidationError({"tier": ["A tier is a whole number from 0 to 5."]})
    ambassador = Ambassador.objects.select_for_update().get(pk=ambassador.pk)
    old = ambassador.tier
    ambassador.tier_override = tier
    ambassador.save(update_fields=["tier_override"])
    _record_tier(ambassador, old=old, cause=TierChange.Cause.STAFF, actor=actor)
    return ambassador


def commission_rates_validate(*, platform_fee_rate: Decimal, tier_rates: list[Decimal]) -> None:
    """Both sides of a settlement may be a top-tier ambassador: the fee must cover twice the
    highest tier rate (economics.md)."""
    highest = max(tier_rates, default=Decimal(0))
    if highest * 2 > platform_fee_rate:
        raise ValidationError(
            f"The highest tier rate ({highest:%}) on both the farmer's and the factory's side "
            f"({highest * 2:%}) would exceed the platform fee ({platform_fee_rate:%})."
        )


@transaction.atomic
def commission_tier_update(
    *, tier: CommissionTier, commission_rate: Decimal, stake_threshold: Decimal
) -> CommissionTier:
    from pools.selectors import economics_config

    others = list(CommissionTier.objects.exclude(pk=tier.pk).values_list("commission_rate", flat=True))
    commission_rates_validate(
        platform_fee_rate=economics_config().platform_fee_rate, tier_rates=[*others, commission_rate]
    )
    tier.commission_rate = commission_rate
    tier.stake_threshold = stake_threshold
    tier.save()
    return tier
