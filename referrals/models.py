"""Ambassadors, who referred whom, commission tiers and CLONES staking.

Commission rates are a share of the gross payout `G`, paid out of the platform fee
(economics.md). An ambassador's tier follows their CLONES stake, unless staff set an override.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from ledger.fields import AmountField


class CommissionTier(models.Model):
    """Tier 1-5: commission rate (of G) and the CLONES stake that reaches it (whole CLONES)."""

    tier = models.PositiveSmallIntegerField(unique=True, validators=[MinValueValidator(1), MaxValueValidator(5)])
    commission_rate = models.DecimalField(
        max_digits=6,
        decimal_places=5,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
        help_text="Share of the gross payout (0.03 = 3%).",
    )
    stake_threshold = models.DecimalField(
        max_digits=20,
        decimal_places=0,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Whole CLONES staked to reach this tier.",
    )

    class Meta:
        ordering = ["tier"]
        constraints = [
            models.CheckConstraint(condition=models.Q(tier__gte=1, tier__lte=5), name="tier_range"),
            models.CheckConstraint(
                condition=models.Q(commission_rate__gte=0, commission_rate__lte=1), name="tier_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Tier {self.tier} ({self.commission_rate:%})"


class Ambassador(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ambassador")
    code = models.CharField(max_length=32, unique=True)
    # The tier the stake reaches, kept in step by the staking services.
    stake_tier = models.PositiveSmallIntegerField(default=0)
    # Staff may set a tier whatever the stake ("staff adjusting tiers in the admin").
    tier_override = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(5)]
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tier_override__isnull=True) | models.Q(tier_override__lte=5),
                name="ambassador_override_range",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def tier(self) -> int:
        return self.tier_override if self.tier_override is not None else self.stake_tier


class Referral(models.Model):
    """Who referred a user: set once, at signup, permanently."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referral")
    ambassador = models.ForeignKey(Ambassador, on_delete=models.PROTECT, related_name="referrals")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} via {self.ambassador}"


class TierChange(models.Model):
    """One change of an ambassador's tier or of the staff override: who, when, old and new.

    `old_tier`/`new_tier` are the tiers in force (override, else stake tier); a staff change of
    the override is recorded even when the tier in force stays the same, so `tier_override`
    keeps what staff set (null: the tier follows the stake again)."""

    class Cause(models.TextChoices):
        STAKE = "stake", "Stake changed"
        STAFF = "staff", "Set by staff"
        THRESHOLDS = "thresholds", "Stake thresholds changed"

    ambassador = models.ForeignKey(Ambassador, on_delete=models.PROTECT, related_name="tier_changes")
    old_tier = models.PositiveSmallIntegerField()
    new_tier = models.PositiveSmallIntegerField()
    cause = models.CharField(max_length=16, choices=Cause.choices)
    stake_tier = models.PositiveSmallIntegerField(default=0, help_text="The tier the stake reached after the change.")
    tier_override = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The staff override after the change (empty: the tier follows the stake)."
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.ambassador_id}: tier {self.old_tier} -> {self.new_tier}"


class Unstake(models.Model):
    """CLONES leaving a stake: held in the unbonding account until `available_at`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Cooling down"
        RELEASED = "released", "Released to balance"

    ambassador = models.ForeignKey(Ambassador, on_delete=models.PROTECT, related_name="unstakes")
    amount = AmountField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="unstake_amount_positive")]

    def __str__(self) -> str:
        return f"unstake {self.pk} ({self.status})"


class CommissionDay(models.Model):
    """An ambassador's commissions in one token on one day: the sums over the settled
    submissions (pools_submission `*_ambassador_commission`) whose settlement fell on `day`
    (`settled_at` in TIME_ZONE, the dashboard chart's days), farmer side and factory side.

    A rollup, so that the dashboard reads at most days x tokens rows instead of every
    commissioned settlement. Written in the same database transaction as each settlement and
    each score adjustment (`referrals.services.commission_rollup_add`; an adjustment changes the
    day its submission settled on); `referrals.selectors.audit_commission_rollup` compares it
    with the submissions (part of the ledger audit)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # the key's index leads with it
        help_text="The ambassador's user (as pools.Submission.farmer_ambassador/factory_ambassador).",
    )
    token = models.ForeignKey("ledger.Token", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    farmer_side = AmountField(default=0)
    factory_side = AmountField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day", "token"], name="commission_day_key")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day} {self.token_id}: {self.farmer_side} + {self.factory_side}"
