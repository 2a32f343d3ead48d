"""Money between accounts, seen on a real in-process chain (issue 20 row 1, signals c and d):
a farmer's withdrawal wallet later funds a creator's factory ("self_funded"), and a wallet a
creator paid deposits from is later linked by a farmer ("money"). Each is recorded as its own
link, so dismissing the plain "same wallet" link leaves the ring linked; the ring's ambassador
earns nothing on its work and the farmer no reputation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.links import account_link_decide
from accounts.models import AccountLink
from accounts.selectors import users_linked
from accounts.services import withdrawal_request
from chain.services import wallet_unlink
from chain.services.deposits import deposit_intent_create
from farmers.selectors import reputation_of
from farmers.services import reputation_recompute
from ledger.models import Account, Token
from ledger.services import Leg, account_get, transaction_post, world_deposits_account
from pools.models import Deposit
from referrals.services import ambassador_set_tier, referral_attach
from tests.chain.test_evm_deposits import CONFIRMATIONS, chain, eth_factory  # noqa: F401 (fixture)
from tests.chain.test_solana_deposits import cluster  # noqa: F401 (fixture)
from tests.factories import CreatorFactory, FarmerFactory, sign_in_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory
from tests.referrals.conftest import make_ambassador

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

WEEK_AGO = timedelta(days=7)


def _credit(user, symbol: str, units: int) -> None:
    token = Token.objects.get(symbol=symbol)
    transaction_post(
        key=f"test-credit:{symbol}:{user.pk}",
        kind="deposit",
        legs=[
            Leg(world_deposits_account(token), -units),
            Leg(account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token=token), units),
        ],
        memo="test credit",
    )


def _deposit_from(chain, creator, factory, key, amount_wei: int):  # noqa: F811
    wallet, _ = sign_in_wallet(creator, chain="evm", key=key, now=timezone.now() - WEEK_AGO)
    deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount=str(Decimal(amount_wei) / 10**18))
    chain.send_eth(wallet.address, chain.treasury, amount_wei)
    chain.mine(CONFIRMATIONS)
    chain.watch()
    assert Deposit.objects.filter(factory=factory, status=Deposit.Status.CONFIRMED).exists()
    return wallet


def _pair(a, b) -> dict:
    return {"user_low_id": min(a.pk, b.pk), "user_high_id": max(a.pk, b.pk)}


def test_a_factory_funded_from_the_farmers_withdrawal_wallet_is_self_funded(chain, staff):  # noqa: F811
    ambassador = make_ambassador(username="ringleader")
    farmer, creator = FarmerFactory(), CreatorFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    referral_attach(user=creator, ambassador=ambassador)
    ambassador_set_tier(ambassador=ambassador, tier=5, actor=staff)
    key = chain.keys[0]

    # The farmer is paid out to the wallet, and gives it up ...
    _credit(farmer, "ETH", 10**17)
    wallet, _ = sign_in_wallet(farmer, chain="evm", key=key, now=timezone.now() - WEEK_AGO)
    withdrawal_request(user=farmer, token=Token.objects.get(symbol="ETH"), amount="0.05", address=wallet.address)
    wallet_unlink(user=farmer, wallet_id=wallet.pk)
    # ... and the creator funds a factory from it.
    factory = eth_factory(creator)
    _deposit_from(chain, creator, factory, key, 2 * 10**18)

    signals = set(AccountLink.objects.filter(**_pair(farmer, creator)).values_list("signal", flat=True))
    assert signals == {AccountLink.Signal.WALLET, AccountLink.Signal.SELF_FUNDED}
    self_funded = AccountLink.objects.get(signal=AccountLink.Signal.SELF_FUNDED)
    assert self_funded.evidence == f"factory {factory.pk} funded from wallet {wallet.address}, also the other's"

    # Staff dismiss the plain shared-wallet link ("sold on"): the money still links them.
    account_link_decide(
        link=AccountLink.objects.get(signal=AccountLink.Signal.WALLET), decision="dismiss", actor=staff, reason="sold"
    )
    assert creator.pk in users_linked([farmer.pk])[farmer.pk]

    settled = [settle(factory, farmer, "1") for _ in range(4)]
    assert {s.farmer_ambassador_commission for s in settled} == {0}
    assert {s.factory_ambassador_commission for s in settled} == {0}
    assert {s.settlement_terms["farmer_ambassador_rate"] for s in settled} == {"0"}
    assert sum(s.protocol_fee for s in settled) == sum(s.platform_fee for s in settled) > 0
    reputation_recompute(farmer_id=farmer.pk)
    assert reputation_of(farmer) == Decimal("50.00")
    assert_audit_clean()


def test_a_wallet_that_paid_a_creators_deposits_links_the_farmer_who_takes_it(chain, staff):  # noqa: F811
    farmer, creator, stranger = FarmerFactory(), CreatorFactory(), FarmerFactory()
    key = chain.keys[1]
    factory = eth_factory(creator)
    wallet = _deposit_from(chain, creator, factory, key, 10**18)
    wallet_unlink(user=creator, wallet_id=wallet.pk)
    assert not AccountLink.objects.exists()

    sign_in_wallet(farmer, chain="evm", key=key)
    sign_in_wallet(stranger, chain="evm", key=chain.keys[2])  # another wallet: nothing

    money = AccountLink.objects.get(signal=AccountLink.Signal.MONEY)
    assert (money.user_low_id, money.user_high_id) == tuple(sorted((farmer.pk, creator.pk)))
    assert money.evidence == f"deposits of one came from wallet {wallet.address}, now the other's"
    assert users_linked([stranger.pk])[stranger.pk] == {}
    assert set(users_linked([farmer.pk])[farmer.pk]) == {creator.pk}


def test_a_solana_pay_deposit_from_the_farmers_withdrawal_wallet_is_self_funded(cluster):  # noqa: F811
    """Solana Pay takes the payment from any wallet (the intent is matched by its reference):
    the farmer's own wallet pays the creator's factory, no wallet ever changes hands, and the
    deposit alone links the two."""
    from chain.services.solana import solana_deposit_intent_create, solana_watch

    farmer, creator = FarmerFactory(), CreatorFactory()
    key = cluster.wallet()
    _credit(farmer, "SOL", 10**8)
    wallet, _ = sign_in_wallet(farmer, chain="solana", key=key, now=timezone.now() - WEEK_AGO)
    withdrawal_request(user=farmer, token=Token.objects.get(symbol="SOL"), amount="0.05", address=wallet.address)
    factory = funded_factory(creator, token="SOL", reward="0.01", deposit=None)
    intent = solana_deposit_intent_create(factory=factory, actor=creator, amount="1")

    _, failed = cluster.pay_sol(key, cluster.treasury_address, 10**9, reference=intent.reference)
    assert not failed
    solana_watch(source=cluster)
    cluster.finalize()
    solana_watch(source=cluster)

    assert Deposit.objects.filter(factory=factory, status=Deposit.Status.CONFIRMED).exists()
    link = AccountLink.objects.get(**_pair(farmer, creator))
    assert link.signal == AccountLink.Signal.SELF_FUNDED
    assert link.evidence == f"factory {factory.pk} funded from wallet {wallet.address}, also the other's"
    assert set(users_linked([farmer.pk])[farmer.pk]) == {creator.pk}
