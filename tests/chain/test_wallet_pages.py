"""The wallets page under the account settings: lists the user's wallets (never another's),
offers the connect buttons with the script, and unlinks by POST."""

from __future__ import annotations

import pytest
from django.test import Client

from chain.models import Wallet
from tests.factories import FarmerFactory, sign_in_wallet

pytestmark = pytest.mark.django_db


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_lists_the_users_wallets_and_when_withdrawals_open():
    user, other = FarmerFactory(), FarmerFactory()
    wallet, _ = sign_in_wallet(user, chain="evm")
    foreign, _ = sign_in_wallet(other, chain="solana")

    page = page_client(user).get("/accounts/wallets/").content.decode()

    assert wallet.address in page
    assert foreign.address not in page
    assert "open at" in page
    assert 'data-connect="evm"' in page and 'data-connect="solana"' in page
    assert "js/wallets.js" in page
    assert "/api/v1/wallets/nonce/" in page


def test_the_account_page_links_to_the_wallets_page():
    page = page_client(FarmerFactory()).get("/accounts/").content.decode()
    assert 'href="/accounts/wallets/"' in page


def test_unlinking_from_the_page_keeps_the_proof_and_hides_the_wallet():
    user = FarmerFactory()
    wallet, _ = sign_in_wallet(user)
    client = page_client(user)

    response = client.post(f"/accounts/wallets/{wallet.pk}/unlink/")

    assert response.status_code == 302
    page = client.get("/accounts/wallets/").content.decode()
    assert f"Wallet {wallet.address} was unlinked." in page
    assert f"<code>{wallet.address}</code>" not in page
    assert "You have not linked a wallet yet." in page
    assert Wallet.objects.get(pk=wallet.pk).unlinked_at is not None


def test_another_users_wallet_is_a_404_and_stays_linked():
    wallet, _ = sign_in_wallet(FarmerFactory())
    response = page_client(FarmerFactory()).post(f"/accounts/wallets/{wallet.pk}/unlink/")
    assert response.status_code == 404
    assert Wallet.objects.get(pk=wallet.pk).unlinked_at is None
