"""Withdrawals above a configurable amount, or taking a user's total of the last 24 hours above
a daily limit, wait for staff approval (issue 18 point 3): an audited admin action releases
them; rejecting one returns the money; nothing is paid (by staff or the payout system) before."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Withdrawal
from accounts.services import withdrawal_approve, withdrawal_mark_sent, withdrawal_request
from audit.models import StaffAction
from core.exceptions import Conflict, Forbidden
from tests.accounts.test_withdrawals import CHANGELIST, balances, run_action, usdc
from tests.factories import CreatorFactory, FarmerFactory, withdrawal_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_farmer(creator):
    farmer = FarmerFactory()
    settle(funded_factory(creator, reward="0.2"), farmer, "0.9")  # 0.162 USDC
    return farmer


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def limits(settings):
    settings.FORGE_WITHDRAWAL_APPROVAL_ABOVE = {"USDC": "0.1"}
    settings.FORGE_WITHDRAWAL_DAILY_LIMIT = {"USDC": "0.12"}


def test_an_amount_above_the_limit_waits_for_approval_and_staff_cannot_send_it_before(paid_farmer, staff, limits):
    address = withdrawal_wallet(paid_farmer)
    small = withdrawal_request(user=paid_farmer, token=usdc(), amount="0.1", address=address)  # at the limit
    assert small.status == "pending"
    withdrawal_mark_sent(withdrawal=small, chain_ref="sig-1", actor=staff)

    big = withdrawal_request(user=paid_farmer, token=usdc(), amount="0.0201", address=address)  # daily: 0.1201
    assert big.status == "approval"
    assert balances(paid_farmer) == {"available": 41_900, "pending": 20_100}  # the money is held already
    with pytest.raises(Conflict):
        withdrawal_mark_sent(withdrawal=big, chain_ref="sig-2", actor=staff)
    assert_audit_clean()


def test_one_withdrawal_above_the_per_withdrawal_limit_waits(paid_farmer, settings):
    settings.FORGE_WITHDRAWAL_APPROVAL_ABOVE = {"USDC": "0.1"}
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.100001", address=withdrawal_wallet(paid_farmer)
    )
    assert withdrawal.status == "approval"


def test_a_token_without_limits_never_waits(paid_farmer, settings):
    settings.FORGE_WITHDRAWAL_APPROVAL_ABOVE = {"ETH": "0.001"}
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.162", address=withdrawal_wallet(paid_farmer)
    )
    assert withdrawal.status == "pending"


def test_rejected_withdrawals_do_not_count_toward_the_daily_total(paid_farmer, staff, limits):
    from accounts.services import withdrawal_reject

    address = withdrawal_wallet(paid_farmer)
    first = withdrawal_request(user=paid_farmer, token=usdc(), amount="0.1", address=address)
    withdrawal_reject(withdrawal=first, reason="test", actor=staff)
    second = withdrawal_request(user=paid_farmer, token=usdc(), amount="0.1", address=address)
    assert second.status == "pending"


def test_staff_approve_through_the_admin_and_the_approval_is_in_the_audit_trail(
    admin_client, paid_farmer, staff, limits
):
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.15", address=withdrawal_wallet(paid_farmer)
    )
    assert withdrawal.status == "approval"

    response = run_action(admin_client, "approve", [withdrawal])
    assert response.status_code == 302
    withdrawal.refresh_from_db()
    assert withdrawal.status == "pending"
    action = StaffAction.objects.get(action=StaffAction.Action.WITHDRAWAL_APPROVE)
    assert (action.actor, action.object_id) == (staff, str(withdrawal.pk))
    assert (action.before["status"], action.after["status"]) == ("approval", "pending")

    # Approving again changes nothing; a pending one is skipped with a message.
    response = run_action(admin_client, "approve", [withdrawal])
    assert "skipped" in admin_client.get(response["Location"]).content.decode()
    assert StaffAction.objects.filter(action=StaffAction.Action.WITHDRAWAL_APPROVE).count() == 1
    assert_audit_clean()


def test_only_staff_approve(paid_farmer, limits):
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.15", address=withdrawal_wallet(paid_farmer)
    )
    with pytest.raises(Forbidden):
        withdrawal_approve(withdrawal=withdrawal, actor=paid_farmer)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "approval"


def test_a_withdrawal_waiting_for_approval_can_be_rejected_and_the_money_returns(
    admin_client, paid_farmer, staff, limits
):
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.15", address=withdrawal_wallet(paid_farmer)
    )
    run_action(admin_client, "reject_and_return", [withdrawal], reason="Unusual amount for this account")
    withdrawal.refresh_from_db()
    assert withdrawal.status == "rejected"
    assert balances(paid_farmer) == {"available": 162_000, "pending": 0}
    action = StaffAction.objects.get(action=StaffAction.Action.WITHDRAWAL_REJECT)
    assert action.before["status"] == "approval"
    assert_audit_clean()


def test_an_over_the_limit_amount_is_still_refused_when_the_balance_is_short(paid_farmer, limits):
    from ledger.services import InsufficientFunds

    with pytest.raises((InsufficientFunds, ValidationError)):
        withdrawal_request(user=paid_farmer, token=usdc(), amount="0.2", address=withdrawal_wallet(paid_farmer))
    assert not Withdrawal.objects.exists()


def test_the_admin_withdrawals_list_says_who_sends_and_labels_demo_mode(admin_client, settings):
    settings.FORGE_DEPOSITS_AUTOCONFIRM = True
    page = admin_client.get(CHANGELIST).content.decode()
    assert 'id="withdrawals-demo"' in page and "staff send withdrawals" in page
    settings.FORGE_DEPOSITS_AUTOCONFIRM = False
    settings.FORGE_EVM_PAYOUTS_ENABLED, settings.FORGE_EVM_RPC_URL = True, "http://127.0.0.1:1"
    page = admin_client.get(CHANGELIST).content.decode()
    assert 'id="withdrawals-demo"' not in page and "sent by the payout system" in page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_request_waits_for_the_users_other_request_before_reading_the_daily_total(settings):
    """Two requests of one user (to two wallets, so the wallet row lock does not order them)
    cannot both read the 24-hour total before either is written: each takes the user's
    advisory lock first. A real second connection holds that lock, as a concurrent request
    would: the request waits, having written nothing, and goes through once it is released."""
    import threading

    import psycopg
    from django.db import connection

    from accounts.locks import WITHDRAWAL_REQUEST_LOCK
    from tests.integration.conftest import _database_url

    settings.FORGE_WITHDRAWAL_DAILY_LIMIT = {"USDC": "0.12"}
    farmer = FarmerFactory()
    settle(funded_factory(CreatorFactory(), reward="0.2"), farmer, "0.9")  # 0.162 USDC
    address = withdrawal_wallet(farmer)

    other = psycopg.connect(_database_url())  # the user's other request, mid-transaction
    other.execute("SELECT pg_advisory_xact_lock(%s, %s)", [WITHDRAWAL_REQUEST_LOCK, farmer.pk])
    result = {}

    def request():
        try:
            result["withdrawal"] = withdrawal_request(user=farmer, token=usdc(), amount="0.1", address=address)
        finally:
            connection.close()

    thread = threading.Thread(target=request)
    thread.start()
    try:
        deadline, waiting = time.monotonic() + 30, []
        while time.monotonic() < deadline and not waiting:
            waiting = other.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s", [farmer.pk]
            ).fetchall()
            time.sleep(0.1)
        assert waiting, "the request did not wait for the user's advisory lock"
        assert (
            other.execute("SELECT count(*) FROM accounts_withdrawal").fetchone()[0] == 0
        )  # nothing read or written yet
    finally:
        other.rollback()  # the other request ends: the lock goes with its transaction
        other.close()
    thread.join(30)
    assert result["withdrawal"].status == "pending"  # 0.1 <= 0.12 once it runs
    assert_audit_clean()
