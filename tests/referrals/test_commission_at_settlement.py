"""Commissions are paid with the tiers in force when a submission settles (not when it was
claimed or submitted), out of the platform fee, in the pool's token; tier 0 earns nothing."""

from decimal import Decimal

import pytest

from ledger.models import Account, Token
from ledger.services import treasury_account
from pools.models import Submission
from pools.services.claims import claim_create
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create
from referrals.models import CommissionTier
from referrals.services import ambassador_set_tier, commission_tier_update, referral_attach, stake, unstake
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory
from tests.referrals.conftest import clones_credit, make_ambassador

pytestmark = pytest.mark.django_db


def usdc_balance(user) -> int:
    token = Token.objects.get(symbol="USDC")
    account = Account.objects.filter(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token=token).first()
    return int(account.balance) if account else 0


def treasury_usdc() -> int:
    return int(treasury_account(Token.objects.get(symbol="USDC")).balance)


def claimed_and_submitted(farmer, creator) -> Submission:
    factory = funded_factory(creator, token="USDC", reward="0.2", deposit="1")
    claim = claim_create(factory=factory, farmer=farmer)
    return submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())


def settle_at_full_quality(submission: Submission) -> Submission:
    Submission.objects.filter(pk=submission.pk).update(quality_score=Decimal("1"), status="scoring")
    return submission_settle(submission_id=submission.pk)


def test_a_tier_raised_between_claim_and_settlement_pays_the_new_rate(staff):
    farmer_amb, factory_amb = make_ambassador(username="famb"), make_ambassador(username="camb")
    farmer, creator = FarmerFactory(), CreatorFactory()
    referral_attach(user=farmer, ambassador=farmer_amb)
    referral_attach(user=creator, ambassador=factory_amb)
    ambassador_set_tier(ambassador=farmer_amb, tier=1, actor=staff)
    ambassador_set_tier(ambassador=factory_amb, tier=2, actor=staff)
    submission = claimed_and_submitted(farmer, creator)
    treasury_before = treasury_usdc()

    # Staff move both tiers after the claim and the submission, before settlement.
    ambassador_set_tier(ambassador=farmer_amb, tier=3, actor=staff)
    ambassador_set_tier(ambassador=factory_amb, tier=5, actor=staff)
    settled = settle_at_full_quality(submission)

    # R = 0.2 USDC, q = 1: G = 0.2, F = 0.02; tier 3 -> 0.006, tier 5 -> 0.01, protocol 0.004.
    assert settled.gross_payout == 200_000
    assert usdc_balance(farmer) == 180_000
    assert usdc_balance(farmer_amb.user) == 6_000
    assert usdc_balance(factory_amb.user) == 10_000
    assert treasury_usdc() - treasury_before == 4_000
    assert settled.settlement_terms["farmer_ambassador_rate"] == "0.03000"
    assert settled.settlement_terms["factory_ambassador_rate"] == "0.05000"
    assert (settled.farmer_ambassador_id, settled.factory_ambassador_id) == (farmer_amb.user_id, factory_amb.user_id)
    assert_audit_clean()


def test_a_stake_lowered_below_tier_one_before_settlement_earns_nothing(staff):
    ambassador = make_ambassador(username="amb")
    clones_credit(ambassador.user, "1000000")
    stake(ambassador=ambassador, amount="1000000")  # tier 1 at claim time
    farmer, creator = FarmerFactory(), CreatorFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    submission = claimed_and_submitted(farmer, creator)
    treasury_before = treasury_usdc()

    unstake(ambassador=ambassador, amount="0.000000001")  # 999,999.999999999 staked: tier 0
    settled = settle_at_full_quality(submission)

    assert usdc_balance(ambassador.user) == 0
    assert settled.farmer_ambassador_commission == 0
    assert treasury_usdc() - treasury_before == 20_000  # the protocol keeps all of F
    assert usdc_balance(farmer) == 180_000
    assert_audit_clean()


def test_a_tier_zero_ambassador_without_an_override_earns_nothing():
    ambassador = make_ambassador(username="amb")
    clones_credit(ambassador.user, "999999")
    ambassador = stake(ambassador=ambassador, amount="999999")
    creator = CreatorFactory()
    referral_attach(user=creator, ambassador=ambassador)
    treasury_before = treasury_usdc()

    settled = settle_at_full_quality(claimed_and_submitted(FarmerFactory(), creator))

    assert ambassador.tier == 0
    assert settled.factory_ambassador_commission == 0
    assert usdc_balance(ambassador.user) == 0
    assert treasury_usdc() - treasury_before == 20_000
    assert_audit_clean()


def test_a_staff_override_pays_a_tier_zero_staker(staff):
    ambassador = make_ambassador(username="amb")
    farmer = FarmerFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    submission = claimed_and_submitted(farmer, CreatorFactory())

    ambassador_set_tier(ambassador=ambassador, tier=2, actor=staff)
    settle_at_full_quality(submission)

    assert usdc_balance(ambassador.user) == 4_000  # 2% of G = 0.2
    assert_audit_clean()


def test_a_rate_edited_in_the_tier_table_before_settlement_is_the_one_paid(staff):
    ambassador = make_ambassador(username="amb")
    ambassador_set_tier(ambassador=ambassador, tier=4, actor=staff)
    farmer = FarmerFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    submission = claimed_and_submitted(farmer, CreatorFactory())

    commission_tier_update(
        tier=CommissionTier.objects.get(tier=4),
        commission_rate=Decimal("0.025"),
        stake_threshold=Decimal(4_000_000),
        actor=staff,
    )
    settle_at_full_quality(submission)

    assert usdc_balance(ambassador.user) == 5_000  # 2.5% of 0.2 USDC
    assert_audit_clean()
