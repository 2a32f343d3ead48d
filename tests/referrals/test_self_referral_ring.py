"""A self-referral ring (issue 20 row 1): one person, as an ambassador at tier 5, refers their
own farmer and creator accounts and would earn commission on their own work. Once the accounts
are linked (one wallet passed between them, withdrawals to it), the referral shows as a ring to staff (the Referrals
admin), the ambassador earns nothing more on it, and the platform keeps that share.
Independent referrals are unaffected."""

from decimal import Decimal

import pytest
from solders.keypair import Keypair

from ledger.models import Account, Token
from ledger.services import Leg, account_get, transaction_post, treasury_account, world_deposits_account
from referrals.models import Referral
from referrals.selectors import referrals_linked
from referrals.services import ambassador_set_tier, referral_attach
from tests.factories import CreatorFactory, FarmerFactory, withdraw_through_shared_wallet
from tests.money_helpers import assert_audit_clean
from tests.referrals.conftest import make_ambassador
from tests.referrals.test_commission_at_settlement import (
    claimed_and_submitted,
    settle_at_full_quality,
    treasury_usdc,
    usdc_balance,
)

pytestmark = pytest.mark.django_db

# The ring's one wallet (a fixed key: its address appears in what staff see).
KEY = Keypair.from_seed(bytes([7]) * 32)
WALLET = str(KEY.pubkey())
OTHER_KEY = Keypair.from_seed(bytes([9]) * 32)


def _usdc():
    return Token.objects.get(symbol="USDC")


def _credit_usdc(user, units: int) -> None:
    token = _usdc()
    transaction_post(
        key=f"test-usdc-credit:{user.pk}",
        kind="deposit",
        legs=[
            Leg(world_deposits_account(token), -units),
            Leg(account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token=token), units),
        ],
        memo="test credit",
    )


@pytest.fixture
def ring(staff):
    ambassador = make_ambassador(username="ringleader")
    farmer, creator = FarmerFactory(), CreatorFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    referral_attach(user=creator, ambassador=ambassador)
    ambassador_set_tier(ambassador=ambassador, tier=5, actor=staff)
    return ambassador, farmer, creator


def test_once_linked_the_ring_earns_no_commission_and_is_flagged(ring):
    ambassador, farmer, creator = ring
    settle_at_full_quality(claimed_and_submitted(farmer, creator))
    assert usdc_balance(ambassador.user) == 20_000  # 5% on each side, before anything links them

    withdraw_through_shared_wallet(ambassador.user, key=KEY, token=_usdc(), amount="0.01")
    withdraw_through_shared_wallet(farmer, key=KEY, token=_usdc(), amount="0.1")
    _credit_usdc(creator, 1_000_000)
    withdraw_through_shared_wallet(creator, key=KEY, token=_usdc(), amount="0.5")
    linked = referrals_linked(Referral.objects.select_related("ambassador").filter(ambassador=ambassador))
    assert linked == {
        farmer.pk: f"the same wallet {WALLET} linked by both",
        creator.pk: f"the same wallet {WALLET} linked by both",
    }

    ambassador_before, treasury_before = usdc_balance(ambassador.user), treasury_usdc()
    settled = settle_at_full_quality(claimed_and_submitted(farmer, creator))

    assert usdc_balance(ambassador.user) == ambassador_before  # nothing more
    assert treasury_usdc() - treasury_before == 20_000  # the whole fee F = 10% of G = 0.2
    assert settled.settlement_terms["farmer_ambassador_rate"] == "0"
    assert settled.settlement_terms["factory_ambassador_rate"] == "0"
    assert int(treasury_account(_usdc()).balance) >= 20_000
    assert_audit_clean()


def test_a_wallet_shared_with_a_stranger_flags_nothing(ring):
    ambassador, farmer, creator = ring
    settle_at_full_quality(claimed_and_submitted(farmer, creator))
    stranger = FarmerFactory()
    _credit_usdc(stranger, 1_000_000)

    withdraw_through_shared_wallet(farmer, key=OTHER_KEY, token=_usdc(), amount="0.1")
    withdraw_through_shared_wallet(stranger, key=OTHER_KEY, token=_usdc(), amount="0.5")
    withdraw_through_shared_wallet(ambassador.user, key=KEY, token=_usdc(), amount="0.01")

    assert referrals_linked(Referral.objects.select_related("ambassador")) == {}
    before = usdc_balance(ambassador.user)
    settle_at_full_quality(claimed_and_submitted(farmer, creator))
    assert usdc_balance(ambassador.user) - before == 20_000
    assert Decimal(usdc_balance(farmer)) > 0
    assert_audit_clean()


def test_staff_see_the_ring_in_the_referrals_admin(ring, staff):
    from django.test import Client

    ambassador, farmer, _creator = ring
    _credit_usdc(ambassador.user, 1_000_000)
    _credit_usdc(farmer, 1_000_000)
    withdraw_through_shared_wallet(ambassador.user, key=KEY, token=_usdc(), amount="0.5")
    withdraw_through_shared_wallet(farmer, key=KEY, token=_usdc(), amount="0.5")
    client = Client()
    client.force_login(staff)

    page = client.get("/admin/referrals/referral/").content.decode()

    assert f"the same wallet {WALLET} linked by both" in page
