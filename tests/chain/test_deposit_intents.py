"""Announcing an on-chain deposit (the reference the watcher matches): API, page, refusals."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from chain.models import DepositIntent
from tests.factories import CreatorFactory, sign_in_wallet
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

TREASURY = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"


@pytest.fixture
def evm_site(settings):
    settings.FORGE_EVM_TREASURY_ADDRESS = TREASURY.lower()
    settings.FORGE_EVM_NETWORK_NAME = "Local test chain"
    settings.FORGE_EVM_CHAIN_ID = 31337
    settings.FORGE_EVM_CONFIRMATIONS = 5


@pytest.fixture
def creator():
    return CreatorFactory()


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_an_announced_deposit_says_where_and_how_to_pay(evm_site, creator):
    factory = funded_factory(creator, token="ETH", reward="0.01", deposit=None)
    wallet, _ = sign_in_wallet(creator, chain="evm")
    url = f"/api/v1/factories/{factory.pk}/chain-deposits/"

    response = api(creator).post(url, {"wallet": wallet.pk, "amount": "0.25"}, format="json")

    assert response.status_code == 201, response.data
    assert response.data["amount"] == "0.250000000000000000"
    assert response.data["wallet"] == wallet.address
    assert response.data["pay_to"] == {
        "network": "Local test chain",
        "chain_id": 31337,
        "treasury": TREASURY,
        "contract": None,
        "confirmations": 5,
        "watching": False,
    }
    assert response.data["progress"] == {"state": "open", "confirmations": None}
    assert [row["id"] for row in api(creator).get(url).data] == [response.data["id"]]

    again = api(creator).post(url, {"wallet": wallet.pk, "amount": "0.25"}, format="json")
    assert again.status_code == 409  # the same (wallet, token, amount) would be ambiguous
    assert DepositIntent.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"wallet": 999999, "amount": "1"}, "wallet"),
        ({"wallet": "x", "amount": "1"}, "wallet"),
        ({"amount": "1"}, "wallet"),
        ({"wallet": 1, "amount": 1}, "amount"),
        ({"wallet": 1, "amount": "0.0000000000000000001"}, "amount"),
        ({"wallet": 1, "amount": "-1"}, "amount"),
    ],
)
def test_bad_announcements_are_400_and_record_nothing(evm_site, creator, body, field):
    factory = funded_factory(creator, token="ETH", reward="0.01", deposit=None)
    wallet, _ = sign_in_wallet(creator, chain="evm")
    body = {**body, "wallet": wallet.pk} if body.get("wallet") == 1 else body
    response = api(creator).post(f"/api/v1/factories/{factory.pk}/chain-deposits/", body, format="json")
    assert response.status_code == 400, response.data
    assert field in response.data
    assert DepositIntent.objects.count() == 0


def test_a_wallet_of_another_user_or_a_solana_wallet_cannot_be_the_sender(evm_site, creator):
    factory = funded_factory(creator, token="ETH", reward="0.01", deposit=None)
    foreign, _ = sign_in_wallet(CreatorFactory(), chain="evm")
    solana, _ = sign_in_wallet(creator, chain="solana")
    for wallet in (foreign, solana):
        response = api(creator).post(
            f"/api/v1/factories/{factory.pk}/chain-deposits/", {"wallet": wallet.pk, "amount": "1"}, format="json"
        )
        assert response.status_code == 400 and "wallet" in response.data
    assert DepositIntent.objects.count() == 0


def test_a_token_not_paid_on_chain_is_refused(evm_site, creator):
    factory = funded_factory(creator, token="USDC", reward="0.1", deposit=None)
    wallet, _ = sign_in_wallet(creator, chain="evm")
    response = api(creator).post(
        f"/api/v1/factories/{factory.pk}/chain-deposits/", {"wallet": wallet.pk, "amount": "1"}, format="json"
    )
    assert response.status_code == 400 and "cannot be deposited on chain" in response.data["token"][0]


def test_the_fund_page_shows_the_network_treasury_and_announces_a_deposit(evm_site, creator):
    factory = funded_factory(creator, token="ETH", reward="0.01", deposit=None)
    wallet, _ = sign_in_wallet(creator, chain="evm")
    client = Client()
    client.force_login(creator)

    page = client.get(f"/creator/factories/{factory.pk}/fund/").content.decode()
    assert "Local test chain (chain id 31337)" in page
    assert TREASURY in page
    assert wallet.address in page

    response = client.post(
        f"/creator/factories/{factory.pk}/chain-deposits/", {"wallet": str(wallet.pk), "amount": "0.3"}, follow=True
    )
    assert "send exactly 0.3 ETH" in response.content.decode()
    assert "Waiting for the transfer" in response.content.decode()
    assert DepositIntent.objects.get().amount == 3 * 10**17


def test_the_fund_page_says_when_the_chain_is_simulated(creator, settings):
    settings.FORGE_DEPOSITS_AUTOCONFIRM = True
    settings.FORGE_EVM_TREASURY_ADDRESS = ""
    factory = funded_factory(creator, token="ETH", reward="0.01", deposit=None)
    client = Client()
    client.force_login(creator)
    assert "the chain is simulated" in client.get(f"/creator/factories/{factory.pk}/fund/").content.decode()
