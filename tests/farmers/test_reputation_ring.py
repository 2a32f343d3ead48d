"""Reputation cannot be bought (issue 20 row 2): work paying a negligible reward, and work for a
creator who is the farmer under another account (a shared withdrawal wallet, or a direct
referral either way), counts for nothing. Work for independent creators counts as before (up to
one creator's share each: tests/farmers/test_reputation_creator_share.py).

Before, perfect demonstrations on one's own near-free factory (0.000014 USDC each) raised a
farmer to a premium reputation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from solders.keypair import Keypair

from farmers.selectors import reputation_of
from farmers.services import reputation_recompute
from ledger.models import Account, Token
from ledger.services import Leg, account_get, transaction_post, world_deposits_account
from referrals.services import ambassador_create
from tests.factories import CreatorFactory, FarmerFactory, withdraw_through_shared_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory
from web.signup import user_signup

pytestmark = pytest.mark.django_db

# The ring's one wallet (a fixed key: its address appears in what staff see).
KEY = Keypair.from_seed(bytes([7]) * 32)
WALLET = str(KEY.pubkey())
NEWCOMER = Decimal("50.00")


def _perfect_work(factory, farmer, count: int = 6) -> Decimal:
    for _ in range(count):
        settle(factory, farmer, "1")
    reputation_recompute(farmer_id=farmer.pk)
    return reputation_of(farmer)


def _credit_usdc(user, amount_units: int) -> None:
    token = Token.objects.get(symbol="USDC")
    transaction_post(
        key=f"test-usdc-credit:{user.pk}",
        kind="deposit",
        legs=[
            Leg(world_deposits_account(token), -amount_units),
            Leg(account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token=token), amount_units),
        ],
        memo="test credit",
    )


def test_work_on_a_near_free_factory_of_ones_own_buys_nothing():
    """The issue's ring: one person's creator account funds a factory paying 0.000014 USDC;
    their farmer account submits perfect work."""
    creator, farmer = CreatorFactory(), FarmerFactory()
    own = funded_factory(creator, reward="0.000014", deposit="0.001")

    assert _perfect_work(own, farmer) == NEWCOMER
    assert_audit_clean()


def test_work_for_a_creator_sharing_the_farmers_wallet_counts_for_nothing():
    usdc = Token.objects.get(symbol="USDC")
    creator, farmer = CreatorFactory(), FarmerFactory()
    own = funded_factory(creator, reward="0.2", deposit="10")
    settle(own, farmer, "0.9")
    withdraw_through_shared_wallet(farmer, key=KEY, token=usdc, amount="0.1")
    _credit_usdc(creator, 1_000_000)
    withdraw_through_shared_wallet(creator, key=KEY, token=usdc, amount="1")

    assert _perfect_work(own, farmer) == NEWCOMER


def test_work_for_a_creator_who_referred_the_farmer_counts_for_nothing():
    creator = CreatorFactory()
    code = ambassador_create(user=creator)[0].code
    farmer = user_signup(username="ringfarmer", password="a long passphrase", role="farmer", referral_code=code)
    own = funded_factory(creator, reward="0.2", deposit="10")

    assert _perfect_work(own, farmer) == NEWCOMER


def test_the_same_work_for_independent_creators_counts():
    """The control: the exclusions above are what made the difference. (Three creators: one
    alone lifts a farmer to 62.50 at most, tests/farmers/test_reputation_creator_share.py.)"""
    farmer = FarmerFactory()
    for _ in range(3):
        independent = funded_factory(CreatorFactory(), reward="0.2", deposit="10")
        reputation = _perfect_work(independent, farmer, count=2)

    assert reputation == Decimal("83.33")  # every part (1.5 + 6) / 9


def test_excluded_work_does_not_dilute_the_work_that_counts():
    creator, farmer = CreatorFactory(), FarmerFactory()
    cheap = funded_factory(creator, reward="0.000014", deposit="0.001")
    fair = funded_factory(CreatorFactory(), reward="0.2", deposit="10")
    baseline_farmer = FarmerFactory()

    _perfect_work(cheap, farmer, count=3)
    with_noise = _perfect_work(fair, farmer, count=3)

    assert with_noise == _perfect_work(fair, baseline_farmer, count=3)
