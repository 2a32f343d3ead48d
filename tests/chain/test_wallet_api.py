"""The wallets API: nonce, link, list, unlink; wiring, errors (400 that change nothing) and
who may do what. Signatures are real (eth_account, solders)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from rest_framework.test import APIClient
from solders.keypair import Keypair

from chain.models import Wallet, WalletNonce
from tests.factories import FarmerFactory, GraderFactory, sign_in_wallet

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_an_ethereum_wallet_is_linked_through_the_api():
    user = FarmerFactory()
    client = client_for(user)
    key = Account.create()
    nonce = client.post("/api/v1/wallets/nonce/", {"chain": "evm", "address": key.address}, format="json")
    assert nonce.status_code == 201, nonce.data
    assert set(nonce.data) >= {"nonce", "domain", "uri", "chain_id", "issued_at", "expiration_time", "message"}
    signature = key.sign_message(encode_defunct(text=nonce.data["message"])).signature.hex()

    linked = client.post(
        "/api/v1/wallets/", {"chain": "evm", "message": nonce.data["message"], "signature": signature}, format="json"
    )

    assert linked.status_code == 201, linked.data
    assert linked.data["address"] == key.address and linked.data["usable"] is False
    listed = client.get("/api/v1/wallets/")
    assert [row["address"] for row in listed.data["results"]] == [key.address]

    again = client.post(
        "/api/v1/wallets/", {"chain": "evm", "message": nonce.data["message"], "signature": signature}, format="json"
    )
    assert again.status_code == 400 and "already used" in str(again.data["message"])


def test_a_solana_wallet_is_linked_and_unlinked_through_the_api():
    user = FarmerFactory()
    client = client_for(user)
    key = Keypair()
    nonce = client.post("/api/v1/wallets/nonce/", {"chain": "solana", "address": str(key.pubkey())}, format="json")
    message = nonce.data["message"]
    linked = client.post(
        "/api/v1/wallets/",
        {"chain": "solana", "message": message, "signature": str(key.sign_message(message.encode()))},
        format="json",
    )
    assert linked.status_code == 201, linked.data

    assert client.delete(f"/api/v1/wallets/{linked.data['id']}/").status_code == 204
    assert client.get("/api/v1/wallets/").data["count"] == 0
    assert Wallet.objects.get().unlinked_at is not None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"chain": "bitcoin"},
        {"chain": "evm", "address": "0x12"},
        {"chain": "solana", "address": "<script>"},
        {"chain": ["evm"]},
    ],
)
def test_a_bad_nonce_request_is_a_400_that_issues_nothing(body):
    response = client_for(FarmerFactory()).post("/api/v1/wallets/nonce/", body, format="json")
    assert response.status_code == 400, response.data
    assert WalletNonce.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"chain": "evm", "message": "hello", "signature": "0x00"},
        {"chain": "solana", "message": "x" * 5000, "signature": "1"},
        {"chain": "evm", "message": 12, "signature": None},
        {"chain": "solana", "message": "a wants you to sign in with your Solana account:\nxyz\n\n", "signature": "s"},
    ],
)
def test_a_bad_link_request_is_a_400_that_links_nothing(body):
    response = client_for(FarmerFactory()).post("/api/v1/wallets/", body, format="json")
    assert response.status_code == 400, response.data
    assert Wallet.objects.count() == 0


def test_a_wallet_of_another_user_is_a_409_when_linked_and_a_404_when_unlinked():
    owner = FarmerFactory()
    wallet, key = sign_in_wallet(owner, chain="solana")
    other = client_for(FarmerFactory())
    nonce = other.post("/api/v1/wallets/nonce/", {"chain": "solana", "address": wallet.address}, format="json")
    message = nonce.data["message"]
    response = other.post(
        "/api/v1/wallets/",
        {"chain": "solana", "message": message, "signature": str(key.sign_message(message.encode()))},
        format="json",
    )
    assert response.status_code == 409
    assert other.delete(f"/api/v1/wallets/{wallet.pk}/").status_code == 404
    assert other.get("/api/v1/wallets/").data["count"] == 0
    assert Wallet.objects.get().unlinked_at is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/wallets/"),
        ("post", "/api/v1/wallets/"),
        ("post", "/api/v1/wallets/nonce/"),
        ("delete", "/api/v1/wallets/1/"),
    ],
)
def test_anonymous_callers_get_401_and_the_grading_service_403(method, path):
    assert getattr(client_for(None), method)(path, {}, format="json").status_code == 401
    assert getattr(client_for(GraderFactory()), method)(path, {}, format="json").status_code == 403
    assert WalletNonce.objects.count() == 0 and Wallet.objects.count() == 0


def test_nonces_and_links_are_throttled(monkeypatch):
    """Throttle rates are read into the throttle class at import: patch the class's table."""
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "wallets": "3/minute"}
    )
    client = client_for(FarmerFactory())
    codes = [client.post("/api/v1/wallets/nonce/", {"chain": "evm"}, format="json").status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    assert WalletNonce.objects.count() == 3
    assert client.get("/api/v1/wallets/").status_code == 200  # reading is not throttled
