"""Withdrawals go only to a wallet the same user linked by signature, on the token's chain,
after its cooldown (issue 18). Every refusal is a 400 naming `address` that moves nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from accounts.models import Withdrawal
from accounts.services import withdrawal_request
from chain.services import wallet_unlink
from ledger.models import Account, Token
from tests.factories import FarmerFactory, sign_in_wallet, withdrawal_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_farmer(creator):
    farmer = FarmerFactory()
    settle(funded_factory(creator, reward="0.2"), farmer, "0.9")  # 0.162 USDC
    return farmer


def usdc() -> Token:
    return Token.objects.get(symbol="USDC")


def available(user) -> int:
    return int(Account.objects.get(holder=f"user:{user.pk}", kind=Account.Kind.USER_BALANCE, token=usdc()).balance)


def refused(user, address: str, match: str, token: Token | None = None):
    with pytest.raises(ValidationError) as error:
        withdrawal_request(user=user, token=token or usdc(), amount="0.1", address=address)
    assert match in " ".join(error.value.message_dict["address"])
    assert not Withdrawal.objects.exists()
    assert available(user) == 162_000
    assert_audit_clean()


def test_a_withdrawal_to_a_linked_wallet_past_its_cooldown_goes_through(paid_farmer):
    address = withdrawal_wallet(paid_farmer)
    withdrawal = withdrawal_request(user=paid_farmer, token=usdc(), amount="0.1", address=address)
    assert withdrawal.address == address
    assert available(paid_farmer) == 62_000
    assert_audit_clean()


def test_an_address_never_linked_is_refused(paid_farmer):
    refused(paid_farmer, "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV", "linked by signature")


def test_another_users_wallet_is_refused(paid_farmer):
    refused(paid_farmer, withdrawal_wallet(FarmerFactory()), "linked by signature")


def test_a_wallet_in_its_cooldown_is_refused_with_the_time_it_opens(paid_farmer, settings):
    settings.FORGE_WALLET_COOLDOWN_HOURS = 48
    wallet, _ = sign_in_wallet(paid_farmer, now=timezone.now() - timedelta(hours=47))
    refused(paid_farmer, wallet.address, "open at")


def test_an_unlinked_wallet_is_refused(paid_farmer):
    address = withdrawal_wallet(paid_farmer)
    wallet_unlink(user=paid_farmer, wallet_id=paid_farmer.wallets.get(address=address).pk)
    refused(paid_farmer, address, "linked by signature")


def test_a_wallet_on_another_chain_is_refused(paid_farmer, creator):
    evm_address = withdrawal_wallet(paid_farmer, chain="evm")
    # An EVM wallet for a Solana token fails the address format first.
    with pytest.raises(ValidationError, match="Solana address"):
        withdrawal_request(user=paid_farmer, token=usdc(), amount="0.1", address=evm_address)
    assert not Withdrawal.objects.exists()


def test_an_evm_wallet_matches_in_any_letter_case(paid_farmer, creator):
    eth = Token.objects.get(symbol="ETH")
    factory = funded_factory(creator, token="ETH", reward="0.2", deposit="1")
    farmer = FarmerFactory()
    settle(factory, farmer, "0.9")
    address = withdrawal_wallet(farmer, chain="evm")
    withdrawal = withdrawal_request(user=farmer, token=eth, amount="0.1", address=address.lower())
    assert withdrawal.address == address  # stored in its EIP-55 spelling


def test_the_earnings_page_says_why_an_unlinked_address_is_refused(paid_farmer):
    client = Client()
    client.force_login(paid_farmer)
    response = client.post(
        "/farm/earnings/withdrawals/",
        {"token": "USDC", "amount": "0.1", "address": "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"},
    )
    assert response.status_code == 400
    assert "linked by signature" in response.content.decode()
    assert not Withdrawal.objects.exists()
