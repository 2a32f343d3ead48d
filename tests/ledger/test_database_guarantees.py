"""What PostgreSQL itself refuses, whatever code runs against it (migrations 0002 and 0004).

Every test here goes around `transaction_post` (raw SQL, `QuerySet.update`, bare `create`) and
expects an `IntegrityError` raised by PostgreSQL, not by Python.

The balance trigger is DEFERRABLE INITIALLY DEFERRED: it runs at COMMIT. The `db` tests run
inside one test transaction that never commits, so they fire pending checks with
`SET CONSTRAINTS ALL IMMEDIATE`; one `transactional_db` test shows a real COMMIT refused.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import Account, Entry, Token, Transaction
from tests.ledger.conftest import Kind, account, balance, deposit


def raw_transaction(key: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (idempotency_key, kind, fingerprint, memo, created_at)"
            " VALUES (%s, 'raw', 'x', '', now()) RETURNING id",
            [key],
        )
        return cursor.fetchone()[0]


def raw_entry(transaction_id: int, account_: Account, amount: int, *, token_id: int | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_entry (transaction_id, account_id, token_id, amount) VALUES (%s, %s, %s, %s)",
            [transaction_id, account_.pk, token_id or account_.token_id, amount],
        )


@contextmanager
def refused(match: str):
    """PostgreSQL must raise an IntegrityError matching `match` inside this block (a
    savepoint, so the test can go on)."""
    with pytest.raises(IntegrityError, match=match), transaction.atomic():
        yield


def fire_deferred_checks() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.fixture(autouse=True)
def _constraints_deferred_again(request):
    yield
    if "transactional_db" not in request.fixturenames and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.fixture
def pool(usdc):
    pool = account(Kind.POOL_AVAILABLE, "pool:1", usdc)
    deposit(pool, 1_000)
    return pool


@pytest.fixture
def farmer(usdc):
    return account(Kind.USER_BALANCE, "user:1", usdc)


# --- every transaction sums to zero per token ------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_database_refuses_to_commit_an_unbalanced_transaction():
    usdc = Token.objects.get(symbol="USDC")
    farmer = account(Kind.USER_BALANCE, "user:1", usdc)
    treasury = account(Kind.TREASURY, "protocol", usdc)

    with refused("unbalanced"):
        txn = Transaction.objects.create(idempotency_key="forged", kind="forged", fingerprint="x")
        Entry.objects.create(transaction=txn, account=farmer, token=usdc, amount=5)
        Entry.objects.create(transaction=txn, account=treasury, token=usdc, amount=-4)
        # The legs are inserted one by one: nothing is checked until COMMIT.

    assert not Transaction.objects.filter(idempotency_key="forged").exists()
    assert not Entry.objects.exists()

    # The same raw inserts, balanced, commit.
    with transaction.atomic():
        txn = Transaction.objects.create(idempotency_key="raw-balanced", kind="raw", fingerprint="x")
        Entry.objects.create(transaction=txn, account=farmer, token=usdc, amount=5)
        Entry.objects.create(transaction=txn, account=treasury, token=usdc, amount=-5)
    assert Entry.objects.filter(transaction__idempotency_key="raw-balanced").count() == 2


@pytest.mark.django_db
def test_the_database_refuses_an_unbalanced_transaction_inserted_with_raw_sql(usdc, pool, farmer):
    with refused("unbalanced"):
        txn_id = raw_transaction("raw-unbalanced")
        raw_entry(txn_id, pool, -10)
        raw_entry(txn_id, farmer, 9)
        fire_deferred_checks()


@pytest.mark.django_db
def test_the_database_checks_the_balance_per_token_not_in_total(usdc, sol, pool, farmer):
    sol_farmer = account(Kind.USER_BALANCE, "user:1", sol)
    with refused("unbalanced"):
        txn_id = raw_transaction("raw-cross-token")
        raw_entry(txn_id, pool, -10)
        raw_entry(txn_id, sol_farmer, 10)
        fire_deferred_checks()


@pytest.mark.django_db
def test_an_entry_cannot_claim_another_token_than_its_account(usdc, sol, pool, farmer):
    # Otherwise "+10 SOL" on a USDC account, labelled USDC, would balance the trigger's sum.
    sol_farmer = account(Kind.USER_BALANCE, "user:1", sol)
    with refused("ledger_entry_account_token_fk"):
        txn_id = raw_transaction("raw-mislabelled")
        raw_entry(txn_id, pool, -10)
        raw_entry(txn_id, sol_farmer, 10, token_id=usdc.pk)
        fire_deferred_checks()


@pytest.mark.django_db
def test_a_balanced_raw_insert_passes_the_trigger(usdc, pool, farmer):
    # The control for the tests above: the trigger refuses imbalance, not raw SQL as such.
    txn_id = raw_transaction("raw-ok")
    raw_entry(txn_id, pool, -10)
    raw_entry(txn_id, farmer, 10)
    fire_deferred_checks()
    assert Entry.objects.filter(transaction_id=txn_id).count() == 2


@pytest.mark.django_db
def test_an_entry_of_zero_is_refused(usdc, pool, farmer):
    with refused("entry_amount_not_zero"):
        raw_entry(raw_transaction("raw-zero"), pool, 0)


# --- append-only --------------------------------------------------------------------------------


@pytest.fixture
def posted(pool, farmer):
    from ledger.services import Leg, transaction_post

    return transaction_post(key="pay:1", kind="payout", legs=[Leg(pool, -100), Leg(farmer, 100)])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        lambda txn: Entry.objects.filter(transaction=txn).update(amount=1),
        lambda txn: Entry.objects.filter(transaction=txn).delete(),
        lambda txn: Transaction.objects.filter(pk=txn.pk).update(memo="edited"),
        lambda txn: Transaction.objects.filter(pk=txn.pk).update(idempotency_key="other"),
    ],
    ids=["update-entry", "delete-entry", "update-transaction", "rekey-transaction"],
)
def test_ledger_rows_cannot_be_updated_or_deleted_through_the_orm(posted, change):
    with refused("append-only"):
        change(posted)
    assert sorted(Entry.objects.filter(transaction=posted).values_list("amount", flat=True)) == [-100, 100]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entry SET amount = amount * 2 WHERE transaction_id = %s",
        "DELETE FROM ledger_entry WHERE transaction_id = %s",
        "UPDATE ledger_transaction SET kind = 'edited' WHERE id = %s",
        "DELETE FROM ledger_transaction WHERE id = %s",
    ],
    ids=["update-entry", "delete-entry", "update-transaction", "delete-transaction"],
)
def test_ledger_rows_cannot_be_updated_or_deleted_with_raw_sql(posted, sql):
    with refused("append-only"), connection.cursor() as cursor:
        cursor.execute(sql, [posted.pk])
    assert Transaction.objects.get(pk=posted.pk).kind == "payout"


@pytest.mark.django_db
def test_an_idempotency_key_is_unique_in_the_database(posted):
    with refused("idempotency_key"):
        raw_transaction(posted.idempotency_key)


@pytest.mark.django_db
def test_an_account_keeps_its_kind(posted, farmer):
    # Renaming a withdrawals account into the treasury would move money without an entry.
    with refused("kind"):
        Account.objects.filter(pk=farmer.pk).update(kind=Kind.TREASURY)
    assert Account.objects.get(pk=farmer.pk).kind == Kind.USER_BALANCE


@pytest.mark.django_db
def test_an_account_with_entries_keeps_its_token(posted, farmer, sol):
    with refused("ledger_entry_account_token_fk"):
        Account.objects.filter(pk=farmer.pk).update(token=sol)
        fire_deferred_checks()


@pytest.mark.django_db
def test_an_account_holder_may_be_renamed(usdc):
    # pools creates a factory's accounts under a placeholder holder, then renames them.
    placeholder = account(Kind.POOL_AVAILABLE, "pool:new:abc", usdc)
    Account.objects.filter(pk=placeholder.pk).update(holder="pool:9")
    assert Account.objects.get(pk=placeholder.pk).holder == "pool:9"


# --- balances ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind",
    [
        Kind.POOL_AVAILABLE,
        Kind.POOL_RESERVED,
        Kind.USER_BALANCE,
        Kind.USER_STAKE,
        Kind.USER_UNBONDING,
        Kind.USER_PENDING_WITHDRAWAL,
        Kind.TREASURY,
        Kind.WORLD_WITHDRAWALS,
    ],
)
def test_the_database_refuses_a_negative_protected_balance(usdc, kind):
    protected = account(kind, "holder:1", usdc)
    with refused("account_balance_not_negative"):
        Account.objects.filter(pk=protected.pk).update(balance=-1)
    with refused("account_balance_not_negative"), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET balance = -1 WHERE id = %s", [protected.pk])
    assert balance(protected) == 0


@pytest.mark.django_db
def test_world_deposits_may_go_negative_but_never_positive(usdc, pool):
    world = account(Kind.WORLD_DEPOSITS, "world", usdc)
    huge = -(10**12) * 10**18  # 10**12 whole units of an 18-decimal token fits NUMERIC(39, 0)
    Account.objects.filter(pk=world.pk).update(balance=huge)
    assert balance(world) == huge
    with refused("account_world_deposits_not_positive"):
        Account.objects.filter(pk=world.pk).update(balance=1)


@pytest.mark.django_db
def test_amounts_hold_eighteen_decimal_supplies_exactly(eth):
    whale = account(Kind.USER_BALANCE, "user:whale", eth)
    units = 10**30 - 1  # 999,999,999,999.999999999999999999 ETH
    deposit(whale, units)
    assert balance(whale) == units
    assert Entry.objects.get(account=whale).amount == units


@pytest.mark.django_db
def test_a_token_has_at_most_eighteen_decimals():
    with refused("token_decimals_max_18"):
        Token.objects.create(symbol="WIDE", name="Too wide", decimals=19)
