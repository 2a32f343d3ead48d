"""The ledger audit: the function, the `audit_ledger` command, the beat task and the staff API."""

from __future__ import annotations

import io
import logging
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import transaction

from ledger.audit import ledger_audit
from ledger.models import Account, Transaction
from ledger.services import Leg, transaction_post, treasury_account, world_withdrawals_account
from ledger.tasks import ledger_audit_task
from pools.economics import settlement_shares
from tests.ledger.conftest import Kind, account, deposit

pytestmark = pytest.mark.django_db

ZERO_USDC = "0.000000"


@pytest.fixture
def money_moved(usdc):
    """A deposit of 1.5 USDC, a claim of 0.2, settled at q = 0.9, and a 0.1 withdrawal sent."""
    available = account(Kind.POOL_AVAILABLE, "pool:1", usdc)
    reserved = account(Kind.POOL_RESERVED, "pool:1", usdc)
    farmer = account(Kind.USER_BALANCE, "user:1", usdc)
    pending = account(Kind.USER_PENDING_WITHDRAWAL, "user:1", usdc)
    deposit(available, 1_500_000)
    transaction_post(key="claim:1", kind="claim", legs=[Leg(available, -200_000), Leg(reserved, 200_000)])
    shares = settlement_shares(
        reward=200_000,
        quality_score=Decimal("0.9"),
        quality_threshold=Decimal("0.5"),
        platform_fee_rate=Decimal("0.10"),
    )
    assert (shares.farmer, shares.protocol, shares.back_to_pool) == (162_000, 18_000, 20_000)
    transaction_post(
        key="settle:1",
        kind="settlement",
        legs=[
            Leg(reserved, -200_000),
            Leg(farmer, shares.farmer),
            Leg(treasury_account(usdc), shares.protocol),
            Leg(available, shares.back_to_pool),
        ],
    )
    transaction_post(key="withdrawal:1", kind="withdrawal_request", legs=[Leg(farmer, -100_000), Leg(pending, 100_000)])
    transaction_post(
        key="withdrawal-sent:1",
        kind="withdrawal_sent",
        legs=[Leg(pending, -100_000), Leg(world_withdrawals_account(usdc), 100_000)],
    )
    return {"available": available, "farmer": farmer}


EXPECTED_USDC = {
    "deposited": "1.500000",
    "pools": "1.320000",
    "balances": "0.062000",
    "staked": ZERO_USDC,
    "treasury": "0.018000",
    "withdrawn": "0.100000",
}


def test_the_audit_is_clean_after_normal_postings_and_reports_exact_per_token_totals(money_moved):
    report = ledger_audit()

    assert report.ok, report.mismatches
    assert report.mismatches == []
    assert report.tokens["USDC"] == EXPECTED_USDC
    assert report.tokens["ETH"] == dict.fromkeys(EXPECTED_USDC, "0.000000000000000000")
    assert set(report.tokens) == {"CLONES", "USDC", "SOL", "ETH"}
    assert report.as_dict() == {"ok": True, "tokens": report.tokens, "mismatches": []}


def test_the_audit_counts_stakes_and_unbonding_as_staked(usdc):
    balance = account(Kind.USER_BALANCE, "user:7", usdc)
    deposit(balance, 5_000)
    stake = account(Kind.USER_STAKE, "user:7", usdc)
    unbonding = account(Kind.USER_UNBONDING, "user:7", usdc)
    transaction_post(key="stake:7", kind="stake", legs=[Leg(balance, -3_000), Leg(stake, 3_000)])
    transaction_post(key="unstake:7", kind="unstake", legs=[Leg(stake, -1_000), Leg(unbonding, 1_000)])

    report = ledger_audit()

    assert report.ok, report.mismatches
    assert report.tokens["USDC"]["staked"] == "0.003000"
    assert report.tokens["USDC"]["balances"] == "0.002000"


def test_the_audit_detects_a_tampered_stored_balance(money_moved):
    farmer = money_moved["farmer"]
    # Balances are the one mutable ledger column; entries and transactions cannot be edited.
    Account.objects.filter(pk=farmer.pk).update(balance=1_062_000)

    report = ledger_audit()

    assert not report.ok
    assert f"account {farmer.pk} (user:1/user_balance) stores 1062000, entries sum to 62000" in report.mismatches
    assert "USDC: deposited - withdrawn = 1400000 but accounts hold 2400000" in report.mismatches
    assert report.tokens["USDC"]["balances"] == "1.062000"


def test_the_audit_detects_an_unbalanced_transaction_even_where_no_trigger_would(usdc, money_moved):
    # Entries written behind the service's back, before any COMMIT (so before PostgreSQL's
    # deferred trigger could refuse them).
    with transaction.atomic():
        txn = Transaction.objects.create(idempotency_key="forged", kind="forged", fingerprint="x")
        txn.entries.create(account=money_moved["farmer"], token=usdc, amount=7)
        report = ledger_audit()
        transaction.set_rollback(True)  # roll the forgery back before anything could commit it

    assert not report.ok
    farmer = money_moved["farmer"]
    assert report.mismatches == [
        f"transaction {txn.pk} is unbalanced in USDC: 7",
        f"account {farmer.pk} (user:1/user_balance) stores 62000, entries sum to 62007",
    ]
    assert ledger_audit().ok


def app_check_that_fails() -> list[str]:
    return ["pools: something is off"]


def test_the_audit_runs_the_apps_cross_checks(settings, money_moved):
    assert django_settings.LEDGER_AUDIT_CHECKS == [
        "pools.selectors.audit_pools",
        "referrals.selectors.audit_commission_rollup",
        "chain.selectors.audit_chain_deposits",
        "chain.selectors.audit_solana_payouts",
    ]
    settings.LEDGER_AUDIT_CHECKS = ["tests.ledger.test_audit.app_check_that_fails"]

    report = ledger_audit()

    assert report.mismatches == ["pools: something is off"]
    assert not report.ok


# --- python manage.py audit_ledger ----------------------------------------------------------------


def test_the_audit_command_prints_a_per_token_summary_and_ok(money_moved):
    out = io.StringIO()
    call_command("audit_ledger", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["token", "deposited", "pools", "balances", "staked", "treasury", "withdrawn"]
    assert ["USDC", *EXPECTED_USDC.values()] in [line.split() for line in lines]
    assert {line.split()[0] for line in lines[1:-1]} == {"CLONES", "USDC", "SOL", "ETH"}
    assert lines[-1] == "Ledger audit: OK"


def test_the_audit_command_exits_non_zero_and_names_the_mismatch(money_moved):
    Account.objects.filter(pk=money_moved["available"].pk).update(balance=0)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match=r"Ledger audit failed with 2 mismatch\(es\)\."):
        call_command("audit_ledger", stdout=out, stderr=err)

    assert "entries sum to 1320000" in err.getvalue()
    assert "USDC" in out.getvalue()
    assert "Ledger audit: OK" not in out.getvalue()


# --- the periodic task ------------------------------------------------------------------------------


def test_the_audit_runs_hourly_from_celery_beat():
    assert django_settings.CELERY_BEAT_SCHEDULE["ledger-audit"] == {"task": "ledger.audit", "schedule": 3600.0}
    assert ledger_audit_task.name == "ledger.audit"


def test_the_audit_task_returns_the_verdict_and_logs_mismatches_as_errors(money_moved, caplog):
    assert ledger_audit_task.delay().get() is True

    Account.objects.filter(pk=money_moved["farmer"].pk).update(balance=0)
    with caplog.at_level(logging.INFO, logger="ledger.tasks"):
        assert ledger_audit_task.delay().get() is False
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "LEDGER AUDIT FAILED" in errors[0].getMessage()


# --- the staff API -----------------------------------------------------------------------------------


def test_staff_read_the_audit_over_the_api(money_moved, staff, as_user):
    response = as_user(staff).get("/api/v1/ledger/audit/")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "tokens": ledger_audit().tokens, "mismatches": []}
    assert response.json()["tokens"]["USDC"] == EXPECTED_USDC


def test_the_audit_api_reports_a_mismatch_with_ok_false(money_moved, staff, as_user):
    Account.objects.filter(pk=money_moved["farmer"].pk).update(balance=0)

    body = as_user(staff).get("/api/v1/ledger/audit/").json()

    assert body["ok"] is False
    assert len(body["mismatches"]) == 2


def test_the_audit_and_treasury_apis_are_staff_only(farmer, as_user, api):
    for path in ("/api/v1/ledger/audit/", "/api/v1/treasury/"):
        assert as_user(farmer).get(path).status_code == 403
        assert api.get(path).status_code == 401


def test_staff_read_the_treasury_as_exact_strings_per_token(money_moved, sol, staff, as_user):
    sol_treasury = treasury_account(sol)
    sol_pool = account(Kind.POOL_AVAILABLE, "pool:2", sol)
    deposit(sol_pool, 10**9)
    transaction_post(key="fee:sol", kind="fee", legs=[Leg(sol_pool, -5), Leg(sol_treasury, 5)])

    response = as_user(staff).get("/api/v1/treasury/")

    assert response.status_code == 200
    assert response.json() == [
        {"token": "USDC", "balance": "0.018000"},
        {"token": "SOL", "balance": "0.000000005"},
    ]
