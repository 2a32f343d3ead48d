"""The ledger in the Django admin: staff can read it, nobody can add, edit or delete a row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ledger.models import Account, Entry, Token, Transaction
from ledger.services import Leg, transaction_post
from tests.ledger.conftest import Kind, account, deposit, row_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def posted(usdc):
    pool = account(Kind.POOL_AVAILABLE, "pool:1", usdc)
    farmer = account(Kind.USER_BALANCE, "user:1", usdc)
    deposit(pool, 1_000_000)
    return transaction_post(key="settle:1", kind="settlement", legs=[Leg(pool, -162_000), Leg(farmer, 162_000)])


@pytest.mark.parametrize("model", [Transaction, Account])
def test_staff_see_the_ledger_changelists(admin_client_for, posted, model):
    response = admin_client_for.get(reverse(f"admin:ledger_{model._meta.model_name}_changelist"))
    assert response.status_code == 200


def test_the_transaction_page_shows_its_entries_read_only(admin_client_for, posted):
    response = admin_client_for.get(reverse("admin:ledger_transaction_change", args=[posted.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert "settle:1" in content
    assert "0.162 USDC" in content
    assert 'name="_save"' not in content
    assert "Delete" not in content


@pytest.mark.parametrize("model", [Transaction, Account])
def test_nobody_can_add_ledger_rows_in_the_admin(admin_client_for, posted, model):
    before = row_counts(), Account.objects.count()
    url = reverse(f"admin:ledger_{model._meta.model_name}_add")

    assert admin_client_for.get(url).status_code == 403
    assert admin_client_for.post(url, {"idempotency_key": "forged", "kind": "forged"}).status_code == 403
    assert (row_counts(), Account.objects.count()) == before


def test_nobody_can_change_a_transaction_in_the_admin(admin_client_for, posted):
    url = reverse("admin:ledger_transaction_change", args=[posted.pk])

    response = admin_client_for.post(url, {"idempotency_key": "edited", "kind": "edited", "memo": "edited"})

    assert response.status_code == 403
    assert Transaction.objects.get(pk=posted.pk).idempotency_key == "settle:1"


def test_nobody_can_change_an_account_balance_in_the_admin(admin_client_for, posted):
    farmer = Account.objects.get(holder="user:1")
    url = reverse("admin:ledger_account_change", args=[farmer.pk])

    response = admin_client_for.post(url, {"balance": "999999999", "kind": farmer.kind, "holder": farmer.holder})

    assert response.status_code == 403
    assert Account.objects.get(pk=farmer.pk).balance == 162_000


@pytest.mark.parametrize("model", [Transaction, Account])
def test_nobody_can_delete_ledger_rows_in_the_admin(admin_client_for, posted, model):
    obj = posted if model is Transaction else Account.objects.get(holder="user:1")
    before = row_counts(), Account.objects.count()

    response = admin_client_for.post(
        reverse(f"admin:ledger_{model._meta.model_name}_delete", args=[obj.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    bulk = admin_client_for.post(
        reverse(f"admin:ledger_{model._meta.model_name}_changelist"),
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)  # no delete action offered: nothing happens
    assert (row_counts(), Account.objects.count()) == before


def test_entries_have_no_admin_of_their_own():
    from django.contrib import admin

    assert Entry not in admin.site._registry  # shown only inline, read-only, on their transaction


def test_staff_add_a_token_but_cannot_change_its_decimals_later(admin_client_for):
    add = admin_client_for.post(
        reverse("admin:ledger_token_add"),
        {"symbol": "BONK", "name": "Bonk", "decimals": "5", "chain": "solana", "enabled": "on"},
    )
    assert add.status_code == 302
    token = Token.objects.get(symbol="BONK")

    change = admin_client_for.post(
        reverse("admin:ledger_token_change", args=[token.pk]),
        {"symbol": "BONK2", "name": "Bonk!", "decimals": "9", "chain": "solana"},
    )

    assert change.status_code == 302
    token.refresh_from_db()
    assert (token.symbol, token.name, token.decimals, token.enabled) == ("BONK", "Bonk!", 5, False)
    assert (
        admin_client_for.post(reverse("admin:ledger_token_delete", args=[token.pk]), {"post": "yes"}).status_code == 403
    )
