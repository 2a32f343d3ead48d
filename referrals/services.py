"""Writes for referrals: becoming an ambassador, attribution at signup, staking CLONES,
tiers (by stake or set by staff), the tier-table rule that the fee covers commissions, and
the per-day commission rollup that settlement keeps.

Locking order: ambassador rows (primary-key order), then ledger accounts (inside
`transaction_post`), then commission rollup rows (`commission_rollup_add`, key order). Every
change of the tier in force, and every staff change of an override, writes a `TierChange`
(docs/referrals.md).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.models import StaffAction
from audit.services import staff_action_record
from core.db import rows_json, with_rows
from core.exceptions import Conflict, Forbidden
from core.money import parse_amount
from ledger.models import Account, Token
from ledger.services import Leg, account_get, transaction_post

from .locks import ambassador_lock, ambassadors_lock_all, commission_tiers_lock
from .models import Ambassador, CommissionDay, CommissionTier, Referral, TierChange, Unstake
from .selectors import STAKE_TOKEN, TIERS, platform_economics, tier_for_stake

# No 0/O, 1/I/L: codes are read aloud and typed from screenshots. 31**8 ~ 8.5e11 codes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@transaction.atomic
def ambassador_create(*, user) -> tuple[Ambassador, bool]:
    """Make `user` an ambassador (idempotent, also under concurrent calls: the unique user
    column decides). Returns (ambassador, created)."""
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
            # Either this user became an ambassador concurrently (the insert waited for that
            # commit), or the code was drawn twice: then draw again.
            existing = Ambassador.objects.filter(user=user).first()
            if existing:
                return existing, False
    raise RuntimeError("could not draw a unique referral code")


@transaction.atomic
def referral_attach(*, user, ambassador: Ambassador) -> Referral:
    """Attribute `user` to `ambassador`: once, permanently, never to themselves."""
    if ambassador.user_id == user.pk:
        raise ValidationError({"referral_code": ["You cannot use your own referral code."]})
    if Referral.objects.filter(user=user).exists():
        raise Conflict("This account was already referred; a referral cannot be changed.")
    try:
        with transaction.atomic():
            return Referral.objects.create(user=user, ambassador=ambassador)
    except IntegrityError:  # attached concurrently
        raise Conflict("This account was already referred; a referral cannot be changed.") from None


# ---- Tiers ---------------------------------------------------------------------------------


def _record(ambassador: Ambassador, *, old_tier: int, cause: str, actor=None, always: bool = False) -> None:
    if always or ambassador.tier != old_tier:
        TierChange.objects.create(
            ambassador=ambassador,
            old_tier=old_tier,
            new_tier=ambassador.tier,
            stake_tier=ambassador.stake_tier,
            tier_override=ambassador.tier_override,
            cause=cause,
            changed_by=actor,
        )


def _stake_token() -> Token:
    return Token.objects.get(symbol=STAKE_TOKEN)


def _accounts(ambassador: Ambassador, token: Token) -> dict[str, Account]:
    holder = f"user:{ambassador.user_id}"
    return {
        kind: account_get(kind=kind, holder=holder, token=token)
        for kind in (Account.Kind.USER_BALANCE, Account.Kind.USER_STAKE, Account.Kind.USER_UNBONDING)
    }


def _stake_tier_set(ambassador: Ambassador, *, staked_units: int, token: Token, cause: str, actor=None) -> None:
    """Set the tier `staked_units` reaches, recording a change of the tier in force.
    The caller holds the ambassador's row lock."""
    new_stake_tier = tier_for_stake(Decimal(staked_units).scaleb(-token.decimals))
    if new_stake_tier == ambassador.stake_tier:
        return
    old_tier = ambassador.tier
    ambassador.stake_tier = new_stake_tier
    ambassador.save(update_fields=["stake_tier"])
    _record(ambassador, old_tier=old_tier, cause=cause, actor=actor)


def stake_tier_refresh(*, ambassador: Ambassador, cause: str = TierChange.Cause.STAKE, actor=None) -> Ambassador:
    """Set the tier the stake reaches now (call inside a transaction holding the row lock)."""
    token = _stake_token()
    staked = _accounts(ambassador, token)[Account.Kind.USER_STAKE].balance
    _stake_tier_set(ambassador, staked_units=staked, token=token, cause=cause, actor=actor)
    return ambassador


@transaction.atomic
def stake_tiers_refresh(*, actor=None) -> int:
    """Re-derive every ambassador's stake tier (after staff changed the thresholds).
    Returns how many stake tiers changed."""
    token = _stake_token()
    staked = dict(Account.objects.filter(kind=Account.Kind.USER_STAKE, token=token).values_list("holder", "balance"))
    changed = 0
    for ambassador in ambassadors_lock_all():
        before = ambassador.stake_tier
        _stake_tier_set(
            ambassador,
            staked_units=int(staked.get(f"user:{ambassador.user_id}", 0)),
            token=token,
            cause=TierChange.Cause.THRESHOLDS,
            actor=actor,
        )
        changed += ambassador.stake_tier != before
    return changed


@transaction.atomic
def ambassador_set_tier(*, ambassador: Ambassador, tier: int | None, actor) -> Ambassador:
    """Staff override of a tier (None returns the ambassador to their stake's tier).
    Every change of the override is recorded, even when the tier in force stays the same."""
    if not getattr(actor, "is_staff", False):
        raise Forbidden("Only staff can set an ambassador's tier.")
    if tier is not None and (isinstance(tier, bool) or not isinstance(tier, int) or tier not in (0, *TIERS)):
        raise ValidationError({"tier": [f"A tier is a whole number from 0 to {TIERS[-1]}, or empty."]})
    ambassador = ambassador_lock(ambassador.pk)
    if ambassador.tier_override == tier:
        return ambassador
    old_tier = ambassador.tier
    before = {"tier": old_tier, "tier_override": ambassador.tier_override, "stake_tier": ambassador.stake_tier}
    ambassador.tier_override = tier
    ambassador.save(update_fields=["tier_override"])
    _record(ambassador, old_tier=old_tier, cause=TierChange.Cause.STAFF, actor=actor, always=True)
    staff_action_record(
        actor=actor,
        action=StaffAction.Action.AMBASSADOR_TIER,
        obj=ambassador,
        before=before,
        after={"tier": ambassador.tier, "tier_override": tier, "stake_tier": ambassador.stake_tier},
    )
    return ambassador


# ---- Staking -------------------------------------------------------------------------------


@transaction.atomic
def stake(*, ambassador: Ambassador, amount, request_key: str | None = None) -> Ambassador:
    """Move CLONES from the ambassador's balance to their stake; the tier follows.

    `request_key` (e.g. a form's one-time token) makes a repeated request a no-op; without it
    every call is a new stake. Refused whole (409) when the balance does not cover `amount`.
    """
    ambassador = ambassador_lock(ambassador.pk)
    token = _stake_token()
    units = parse_amount(amount, decimals=token.decimals)
    accounts = _accounts(ambassador, token)
    transaction_post(
        key=f"stake:{ambassador.pk}:{request_key or secrets.token_hex(8)}",
        kind="stake",
        legs=[Leg(accounts[Account.Kind.USER_BALANCE], -units), Leg(accounts[Account.Kind.USER_STAKE], units)],
        memo=f"Ambassador {ambassador.code} stakes {token.money(units)}",
        actor=ambassador.user,
    )
    _stake_tier_set(
        ambassador, staked_units=accounts[Account.Kind.USER_STAKE].balance, token=token, cause=TierChange.Cause.STAKE
    )
    return ambassador


@transaction.atomic
def unstake(*, ambassador: Ambassador, amount) -> Unstake:
    """Start unstaking: the amount leaves the stake at once (the tier follows) and waits in the
    unbonding account for `EconomicsConfig.unstake_cooldown_hours` before returning to the
    balance (`unstakes_release_due`)."""

    ambassador = ambassador_lock(ambassador.pk)
    token = _stake_token()
    units = parse_amount(amount, decimals=token.decimals)
    accounts = _accounts(ambassador, token)
    now = timezone.now()
    request = Unstake.objects.create(
        ambassador=ambassador,
        amount=units,
        created_at=now,
        available_at=now + timedelta(hours=platform_economics().unstake_cooldown_hours),
    )
    transaction_post(
        key=f"unstake:{request.pk}",
        kind="unstake",
        legs=[Leg(accounts[Account.Kind.USER_STAKE], -units), Leg(accounts[Account.Kind.USER_UNBONDING], units)],
        memo=f"Ambassador {ambassador.code} unstakes {token.money(units)}",
        actor=ambassador.user,
    )
    _stake_tier_set(
        ambassador, staked_units=accounts[Account.Kind.USER_STAKE].balance, token=token, cause=TierChange.Cause.STAKE
    )
    return request


@transaction.atomic
def unstake_release(*, unstake_id: int, now=None) -> bool:
    """Return one cooled-down unstake to the balance, once (compare-and-swap on its status)."""
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


def unstakes_release_due(*, now=None, batch: int = 1000) -> int:
    """Release every unstake whose cooldown is over (the beat task `referrals.unstakes_release`).
    Each release is its own transaction, so one failure does not hold back the others."""
    now = now or timezone.now()
    due = list(
        Unstake.objects.filter(status=Unstake.Status.PENDING, available_at__lte=now)
        .order_by("available_at", "pk")
        .values_list("pk", flat=True)[:batch]
    )
    return sum(unstake_release(unstake_id=pk, now=now) for pk in due)


# ---- The tier table ------------------------------------------------------------------------


def commission_rates_validate(*, platform_fee_rate: Decimal, tier_rates: list[Decimal]) -> None:
    """Both sides of a settlement may be a top-tier ambassador: the fee must cover twice the
    highest tier rate (economics.md). Raises a plain (not field-keyed) ValidationError, so a
    form about the tiers or about the fee can attach it to its own field."""
    highest = max(tier_rates, default=Decimal(0))
    if highest * 2 > platform_fee_rate:
        raise ValidationError(
            f"A farmer's and a factory's ambassador at the highest tier rate ({highest:.2%}) would take "
            f"{highest * 2:.2%} of the gross payout, more than the platform fee ({platform_fee_rate:.2%}). "
            f"Keep every tier rate at or below {platform_fee_rate / 2:.2%}, or raise the platform fee."
        )


def stake_thresholds_validate(*, thresholds: dict[int, Decimal]) -> None:
    """A higher tier needs a strictly larger stake, or it could never be reached."""
    ordered = sorted(thresholds.items())
    for (lower_tier, lower), (higher_tier, higher) in pairwise(ordered):
        if higher <= lower:
            raise ValidationError(
                {
                    "stake_threshold": [
                        f"Tier {higher_tier} must need more CLONES staked than tier {lower_tier} ({lower:,} CLONES)."
                    ]
                }
            )


def commission_tier_validate(*, tier: CommissionTier, commission_rate: Decimal, stake_threshold: Decimal) -> None:
    """Would the table, with this one tier changed, still be valid? (The admin form asks this
    before saving; `commission_tier_update` asks again under the table lock.)"""

    table = {row.tier: row for row in CommissionTier.objects.all()}
    rates = {number: row.commission_rate for number, row in table.items()} | {tier.tier: commission_rate}
    thresholds = {number: row.stake_threshold for number, row in table.items()} | {tier.tier: stake_threshold}
    try:
        commission_rates_validate(
            platform_fee_rate=platform_economics().platform_fee_rate, tier_rates=list(rates.values())
        )
    except ValidationError as error:
        raise ValidationError({"commission_rate": error.messages}) from None
    stake_thresholds_validate(thresholds=thresholds)


@transaction.atomic
def commission_tier_update(
    *, tier: CommissionTier, commission_rate: Decimal, stake_threshold: Decimal, actor
) -> CommissionTier:
    """Staff change one tier's rate and threshold, refusing a table the platform fee cannot
    cover. A threshold change re-derives every ambassador's stake tier (recorded as tier
    changes). Recorded in the staff audit trail; a save that changes nothing records nothing."""
    if not getattr(actor, "is_staff", False):
        raise Forbidden("Only staff can change the commission tiers.")
    locked = commission_tiers_lock()
    tier = next(row for row in locked if row.tier == tier.tier)
    commission_tier_validate(tier=tier, commission_rate=commission_rate, stake_threshold=stake_threshold)
    threshold_changed = tier.stake_threshold != stake_threshold
    before = {"commission_rate": tier.commission_rate, "stake_threshold": tier.stake_threshold}
    tier.commission_rate = commission_rate
    tier.stake_threshold = stake_threshold
    tier.full_clean()
    tier.save(update_fields=["commission_rate", "stake_threshold"])
    changed_stake_tiers = stake_tiers_refresh(actor=actor) if threshold_changed else 0
    after = {"commission_rate": tier.commission_rate, "stake_threshold": tier.stake_threshold}
    if after != before:
        staff_action_record(
            actor=actor,
            action=StaffAction.Action.COMMISSION_TIER,
            obj=tier,
            before=before,
            after=after | {"ambassadors_changed_stake_tier": changed_stake_tiers},
        )
    return tier


# ---- Commission rollup -----------------------------------------------------------------------

ROLLUP_UPSERT = with_rows(
    "INSERT INTO referrals_commissionday AS d (user_id, day, token_id, farmer_side, factory_side) "
    "SELECT * FROM {rows} AS v ORDER BY 1, 2, 3 "
    "ON CONFLICT (user_id, day, token_id) DO UPDATE SET "
    "farmer_side = d.farmer_side + EXCLUDED.farmer_side, "
    "factory_side = d.factory_side + EXCLUDED.factory_side",
    [("user_id", "bigint"), ("day", "date"), ("token_id", "bigint"), ("farmer", "numeric"), ("factory", "numeric")],
)


class SettledCommission(NamedTuple):
    """What the rollup needs of one settled submission: plain values, not a pools row
    (settlement builds these; referrals sits below pools and never sees its models)."""

    pk: int  # the submission's id
    factory_id: int
    settled_at: datetime
    farmer_ambassador_id: int | None
    farmer_ambassador_commission: int | None
    factory_ambassador_id: int | None
    factory_ambassador_commission: int | None


def commission_rollup_add(rows, *, token_ids: dict[int, int], before: dict | None = None) -> None:
    """Add settled submissions' commissions to the per-(ambassador, day, token) rollup
    (`CommissionDay`), in the caller's transaction, after its ledger posting.

    `rows`: `SettledCommission` values, one per settled submission;
    `token_ids`: {factory_id: token_id}; `before`: {row pk: (farmer side, factory side)} already
    counted for a row (a score adjustment adds the difference, which may be negative).

    One `INSERT ... SELECT ... ON CONFLICT DO UPDATE` for the whole batch (`core.db.with_rows`), keys in
    sorted order: concurrent settlements lock rollup rows in the same order, and each key
    written also had its ambassador's ledger account in that token posted (and locked) first,
    so the rollup adds no new lock waits of its own. Zero changes write nothing."""
    before = before or {}
    changes: dict[tuple, list[int]] = {}
    days: dict = {}  # settled_at -> its day (a batch shares one settled_at)
    for row in rows:
        day = days.get(row.settled_at)
        if day is None:  # TruncDate's day in the current time zone: the dashboard's
            day = days[row.settled_at] = timezone.localdate(row.settled_at)
        token_id = token_ids[row.factory_id]
        old_farmer, old_factory = before.get(row.pk, (0, 0))
        for side, user_id, amount in (
            (0, row.farmer_ambassador_id, (row.farmer_ambassador_commission or 0) - (old_farmer or 0)),
            (1, row.factory_ambassador_id, (row.factory_ambassador_commission or 0) - (old_factory or 0)),
        ):
            if user_id is not None and amount:
                changes.setdefault((user_id, day, token_id), [0, 0])[side] += amount
    keys = sorted(key for key, sides in changes.items() if any(sides))
    if not keys:
        return
    rows = [(*key, *changes[key]) for key in keys]
    with connection.cursor() as cursor:
        cursor.execute(ROLLUP_UPSERT, [rows_json(rows)])


@transaction.atomic
def commission_rollup_rebuild() -> int:
    """Replace the whole rollup by a recomputation from the settled submissions: the repair
    when the ledger audit reports a rollup mismatch. Settlements wait meanwhile (the table is
    locked before reading, so one that committed before is counted and one after adds to the
    new rows). Returns how many rows it wrote."""
    from .selectors import commission_rollup_expected

    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE referrals_commissionday IN EXCLUSIVE MODE")
    expected = commission_rollup_expected()
    CommissionDay.objects.all().delete()
    CommissionDay.objects.bulk_create(
        [
            CommissionDay(user_id=user_id, day=day, token_id=token_id, farmer_side=farmer, factory_side=factory)
            for (user_id, day, token_id), (farmer, factory) in sorted(expected.items())
        ],
        batch_size=5000,
    )
    return len(expected)
