"""The economics settings (the single `EconomicsConfig` row): changed by staff only, validated
against the referral tier table, and recorded in the staff audit trail in the same transaction."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import StaffAction
from audit.services import staff_action_record
from core.exceptions import Forbidden
from referrals.locks import commission_tiers_lock
from referrals.services import commission_rates_validate

from ..locks import economics_config_lock
from ..models import EconomicsConfig

ECONOMICS_FIELDS = ("platform_fee_rate", "quality_threshold", "default_claim_timeout_minutes", "unstake_cooldown_hours")


def _economics_state(config: EconomicsConfig) -> dict:
    return {name: getattr(config, name) for name in ECONOMICS_FIELDS}


@transaction.atomic
def economics_config_update(
    *,
    actor,
    platform_fee_rate: Decimal,
    quality_threshold: Decimal,
    default_claim_timeout_minutes: int,
    unstake_cooldown_hours: int,
) -> EconomicsConfig:
    """Set the money rules. The fee must still cover two top-tier commissions (economics.md):
    the tier rows are locked first, in the order `commission_tier_update` locks them, so a tier
    change and a fee change cannot both pass against each other's old value. A save that
    changes nothing records nothing."""
    if not getattr(actor, "is_staff", False):
        raise Forbidden("Only staff can change the economics settings.")
    tier_rates = [tier.commission_rate for tier in commission_tiers_lock()]
    config = economics_config_lock()
    before = _economics_state(config)
    config.platform_fee_rate = platform_fee_rate
    config.quality_threshold = quality_threshold
    config.default_claim_timeout_minutes = default_claim_timeout_minutes
    config.unstake_cooldown_hours = unstake_cooldown_hours
    config.full_clean()
    try:
        commission_rates_validate(platform_fee_rate=config.platform_fee_rate, tier_rates=tier_rates)
    except ValidationError as error:
        raise ValidationError({"platform_fee_rate": error.messages}) from None
    after = _economics_state(config)
    if after == before:
        return config
    config.save()
    staff_action_record(actor=actor, action=StaffAction.Action.ECONOMICS_UPDATE, obj=config, before=before, after=after)
    return config
