"""Creators get their money out (issue 18 points 3-4): a closed factory's refund sits in the
creator's balance; they withdraw it to a linked wallet, or fund another factory with it. Ledger
exact, idempotent per request id, every refusal a 400/409 that moves nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Withdrawal
from ledger.models import Account, Transaction
from pools.models import Deposit, Factory
from pools.services.factories import factory_close
from tests.factories import CreatorFactory, withdrawal_wallet
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunded_creator():
    """A creator whose first factory (10 USDC) was closed: 10 USDC back in their balance, and
    a second factory waiting for money."""
    creator = CreatorFactory()
    closed = funded_factory(creator, reward="0.2", deposit="10", title="Old task")
    factory_close(factory=closed, actor=creator)
    target = funded_factory(creator, reward="0.2", deposit=None, title="New task")
    return creator, target


def available(user) -> int:
    return int(
        Account.objects.get(holder=f"user:{user.pk}", kind=Account.Kind.USER_BALANCE, token__symbol="USDC").balance
    )


def pool(factory) -> int:
    return int(Account.objects.get(pk=factory.available_account_id).balance)


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_funds_a_factory_from_the_balance_once_per_request_id(refunded_creator):
    creator, target = refunded_creator
    assert (available(creator), pool(target), target.status) == (10_000_000, 0, "draft")
    url = f"/api/v1/factories/{target.pk}/fund-from-balance/"

    first = api(creator).post(url, {"amount": "4.5", "request_id": "refund-0001"}, format="json")
    assert first.status_code == 201, first.data
    assert (first.data["amount"], first.data["status"]) == ("4.500000", "confirmed")
    again = api(creator).post(url, {"amount": "4.5", "request_id": "refund-0001"}, format="json")
    assert again.status_code == 201 and again.data["id"] == first.data["id"]  # a retry funds once

    target.refresh_from_db()
    assert (available(creator), pool(target), target.status) == (5_500_000, 4_500_000, "active")
    deposit = Deposit.objects.get(pk=first.data["id"])
    assert deposit.ledger_transaction.kind == "deposit_from_balance"
    assert Transaction.objects.filter(kind="deposit_from_balance").count() == 1
    assert_audit_clean()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"amount": "abc", "request_id": "refund-0002"}, 400, "amount"),
        ({"amount": "0.0000001", "request_id": "refund-0002"}, 400, "amount"),
        ({"amount": "-1", "request_id": "refund-0002"}, 400, "amount"),
        ({"amount": "1", "request_id": "x"}, 400, "request_id"),
        ({"amount": "1", "request_id": "has spaces in it"}, 400, "request_id"),
        ({"amount": "10.000001", "request_id": "refund-0002"}, 409, "detail"),  # more than the balance
    ],
)
def test_bad_requests_are_refused_and_move_nothing(refunded_creator, body, status, field):
    creator, target = refunded_creator
    response = api(creator).post(f"/api/v1/factories/{target.pk}/fund-from-balance/", body, format="json")
    assert response.status_code == status and field in response.data, response.data
    assert (available(creator), pool(target)) == (10_000_000, 0)
    assert not Deposit.objects.filter(factory=target).exists()
    assert_audit_clean()


def test_a_request_id_reused_for_another_amount_or_a_closed_factory_is_a_conflict(refunded_creator):
    creator, target = refunded_creator
    url = f"/api/v1/factories/{target.pk}/fund-from-balance/"
    assert api(creator).post(url, {"amount": "1", "request_id": "refund-0003"}, format="json").status_code == 201
    reused = api(creator).post(url, {"amount": "2", "request_id": "refund-0003"}, format="json")
    assert reused.status_code == 409
    closed = Factory.objects.get(title="Old task")
    gone = api(creator).post(
        f"/api/v1/factories/{closed.pk}/fund-from-balance/", {"amount": "1", "request_id": "refund-0004"}, format="json"
    )
    assert gone.status_code == 409
    assert available(creator) == 9_000_000
    assert_audit_clean()


def test_another_creator_cannot_fund_my_factory_from_their_balance(refunded_creator):
    _, target = refunded_creator
    other = CreatorFactory()
    response = api(other).post(
        f"/api/v1/factories/{target.pk}/fund-from-balance/", {"amount": "1", "request_id": "refund-0005"}, format="json"
    )
    assert response.status_code == 403 and pool(target) == 0


def test_the_balance_page_funds_a_factory_and_a_double_submit_funds_once(refunded_creator):
    creator, target = refunded_creator
    client = Client()
    client.force_login(creator)
    page = client.get("/creator/balance/").content.decode()
    assert "New task (USDC)" in page and "Old task (USDC)" not in page  # closed factories are not offered
    assert 'id="balance-link"' in client.get("/creator/").content.decode()
    form = {"factory": str(target.pk), "amount": "3", "request_id": "page-request-0001"}
    assert client.post("/creator/balance/fund/", form).status_code == 302
    assert client.post("/creator/balance/fund/", form).status_code == 302  # the same form posted twice
    assert (available(creator), pool(target)) == (7_000_000, 3_000_000)

    too_much = client.post("/creator/balance/fund/", form | {"amount": "8", "request_id": "page-request-0002"})
    assert too_much.status_code == 400 and "Insufficient funds" in too_much.content.decode()
    assert (available(creator), pool(target)) == (7_000_000, 3_000_000)
    assert_audit_clean()


def test_a_creator_withdraws_a_refund_from_the_balance_page_and_the_api(refunded_creator):
    creator, _ = refunded_creator
    address = withdrawal_wallet(creator)
    client = Client()
    client.force_login(creator)
    response = client.post("/creator/balance/withdrawals/", {"token": "USDC", "amount": "2", "address": address})
    assert response.status_code == 302
    created = api(creator).post(
        "/api/v1/me/withdrawals/", {"token": "USDC", "amount": "1.5", "address": address}, format="json"
    )
    assert created.status_code == 201 and created.data["status"] == "pending"
    listed = api(creator).get("/api/v1/me/withdrawals/").data
    assert [row["amount"] for row in listed] == ["1.500000", "2.000000"]
    assert available(creator) == 6_500_000
    assert Withdrawal.objects.filter(user=creator).count() == 2

    refused = client.post("/creator/balance/withdrawals/", {"token": "USDC", "amount": "7", "address": address})
    assert refused.status_code == 400 and "You have" in refused.content.decode()
    bad = api(creator).post(
        "/api/v1/me/withdrawals/", {"token": "NOPE", "amount": "1", "address": address}, format="json"
    )
    assert bad.status_code == 400 and "token" in bad.data
    assert available(creator) == 6_500_000
    assert_audit_clean()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_request_id_racing_for_two_factories_is_a_409_not_a_500():
    """Two factories' locks do not serialise one request id: the second insert meets the first
    (held uncommitted by another connection here) at the unique (token, tx_ref) and must answer
    409, with nothing moved."""
    import threading

    import psycopg

    from core.exceptions import Conflict
    from pools.services.deposits import factory_fund_from_balance
    from tests.integration.conftest import _database_url

    creator = CreatorFactory()
    closed = funded_factory(creator, reward="0.2", deposit="10", title="Old task")
    factory_close(factory=closed, actor=creator)
    first = funded_factory(creator, reward="0.2", deposit=None, title="First")
    second = funded_factory(creator, reward="0.2", deposit=None, title="Second")
    balance_before = available(creator)
    other = psycopg.connect(_database_url())  # the racing request, its deposit inserted, not committed
    other.execute(
        "INSERT INTO pools_deposit (amount, tx_ref, status, created_at, created_by_id, token_id, factory_id) "
        "VALUES (1000000, %s, 'confirmed', now(), %s, %s, %s)",
        [f"balance:{creator.pk}:race-id-0001", creator.pk, first.token_id, first.pk],
    )
    outcome = {}

    def fund():
        from django.db import connection

        try:
            factory_fund_from_balance(factory=second, actor=creator, amount="1", request_id="race-id-0001")
            outcome["result"] = "funded"
        except Conflict as error:
            outcome["result"] = str(error)
        except Exception as error:  # the defect: an IntegrityError, a 500
            outcome["result"] = repr(error)
        finally:
            connection.close()

    thread = threading.Thread(target=fund)
    thread.start()
    thread.join(1.0)  # its insert now waits on the uncommitted row
    other.commit()
    other.close()
    thread.join(30)
    assert outcome["result"] == "This request id was already used for another amount or factory."
    assert not Deposit.objects.filter(factory=second).exists()
    assert available(creator) == balance_before and pool(second) == 0
