"""transaction_post, the ledger's one writer: balance, merging, funds, idempotency, reversal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.exceptions import Conflict
from ledger.models import Account, Entry, Transaction
from ledger.services import (
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    Leg,
    transaction_post,
    transaction_reverse,
    treasury_account,
    world_deposits_account,
)
from tests.ledger.conftest import Kind, account, balance, deposit, key, row_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool(usdc):
    return account(Kind.POOL_AVAILABLE, "pool:1", usdc)


@pytest.fixture
def reserved(usdc):
    return account(Kind.POOL_RESERVED, "pool:1", usdc)


@pytest.fixture
def farmer(usdc):
    return account(Kind.USER_BALANCE, "user:1", usdc)


def entries_of(txn: Transaction) -> dict[int, int]:
    return dict(txn.entries.values_list("account_id", "amount"))


def test_a_balanced_posting_moves_money_and_writes_one_entry_per_account(usdc, pool, farmer):
    deposit(pool, 1_000_000)
    before = row_counts()

    txn = transaction_post(key="pay:1", kind="payout", legs=[Leg(pool, -300_000), Leg(farmer, 300_000)], memo="hi")

    assert row_counts() == (before[0] + 1, before[1] + 2)
    assert entries_of(txn) == {pool.pk: -300_000, farmer.pk: 300_000}
    assert (txn.idempotency_key, txn.kind, txn.memo) == ("pay:1", "payout", "hi")
    assert balance(pool) == 700_000
    assert balance(farmer) == 300_000
    # The caller's account objects are kept in step with what was written.
    assert (pool.balance, farmer.balance) == (700_000, 300_000)
    assert all(isinstance(entry.amount, int) for entry in Entry.objects.all())


def test_legs_on_the_same_account_are_merged_and_legs_that_cancel_out_are_dropped(usdc, pool, reserved, farmer):
    deposit(pool, 1_000)

    txn = transaction_post(
        key=key(),
        kind="split",
        legs=[Leg(pool, -600), Leg(farmer, 250), Leg(farmer, 350), Leg(reserved, 70), Leg(reserved, -70)],
    )

    assert entries_of(txn) == {pool.pk: -600, farmer.pk: 600}
    assert balance(reserved) == 0


def test_a_posting_can_move_several_tokens_if_each_balances(usdc, sol, pool, farmer):
    sol_pool = account(Kind.POOL_AVAILABLE, "pool:1", sol)
    sol_farmer = account(Kind.USER_BALANCE, "user:1", sol)
    deposit(pool, 50)
    deposit(sol_pool, 70)

    transaction_post(
        key=key(), kind="two", legs=[Leg(pool, -50), Leg(farmer, 50), Leg(sol_pool, -70), Leg(sol_farmer, 70)]
    )

    assert (balance(farmer), balance(sol_farmer)) == (50, 70)


@pytest.mark.parametrize(
    "legs",
    [
        pytest.param(lambda pool, farmer, sol_farmer: [Leg(pool, -10), Leg(farmer, 9)], id="sums-to-minus-one"),
        pytest.param(lambda pool, farmer, sol_farmer: [Leg(farmer, 10)], id="one-leg"),
        pytest.param(
            lambda pool, farmer, sol_farmer: [Leg(pool, -10), Leg(sol_farmer, 10)], id="balanced-only-across-tokens"
        ),
    ],
)
def test_an_unbalanced_posting_is_refused_before_anything_is_written(usdc, sol, pool, farmer, legs):
    deposit(pool, 100)
    sol_farmer = account(Kind.USER_BALANCE, "user:1", sol)
    before = row_counts()

    with pytest.raises(LedgerError, match="Unbalanced transaction"):
        transaction_post(key="bad", kind="bad", legs=legs(pool, farmer, sol_farmer))

    assert row_counts() == before
    assert (balance(pool), balance(farmer), balance(sol_farmer)) == (100, 0, 0)


@pytest.mark.parametrize("case", ["none", "zero", "cancelling"])
def test_a_posting_without_a_non_zero_leg_is_refused(usdc, pool, farmer, case):
    legs = {"none": [], "zero": [Leg(pool, 0), Leg(farmer, 0)], "cancelling": [Leg(pool, 5), Leg(pool, -5)]}[case]
    with pytest.raises(LedgerError, match="at least one non-zero leg"):
        transaction_post(key="empty", kind="empty", legs=legs)
    assert not Transaction.objects.filter(idempotency_key="empty").exists()


@pytest.mark.parametrize("amount", [1.0, "1", True, Decimal(1)])
def test_leg_amounts_must_be_integer_base_units(usdc, pool, farmer, amount):
    deposit(pool, 10)
    with pytest.raises(LedgerError, match="integers in base units"):
        transaction_post(key="float", kind="float", legs=[Leg(farmer, amount), Leg(pool, -1)])


@pytest.mark.parametrize("bad_key", ["", "k" * 129])
def test_an_idempotency_key_is_required_and_fits_its_column(usdc, pool, farmer, bad_key):
    deposit(pool, 10)
    before = row_counts()
    with pytest.raises(LedgerError, match="idempotency key"):
        transaction_post(key=bad_key, kind="pay", legs=[Leg(pool, -1), Leg(farmer, 1)])
    assert row_counts() == before


def test_insufficient_funds_is_a_409_conflict_and_leaves_nothing_written(usdc, pool, farmer):
    deposit(pool, 100)
    before = row_counts()

    with pytest.raises(InsufficientFunds) as raised:
        transaction_post(key="overdraw", kind="payout", legs=[Leg(farmer, 101), Leg(pool, -101)])

    assert isinstance(raised.value, Conflict)
    assert raised.value.status == 409
    assert raised.value.account.pk == pool.pk
    assert raised.value.needed == 101
    assert str(raised.value) == "Insufficient funds: pool: available holds 0.0001 USDC, 0.000101 USDC needed."
    assert row_counts() == before
    assert not Transaction.objects.filter(idempotency_key="overdraw").exists()
    assert (balance(pool), balance(farmer)) == (100, 0)
    # The key stays free: a later posting under it succeeds.
    transaction_post(key="overdraw", kind="payout", legs=[Leg(farmer, 100), Leg(pool, -100)])
    assert (balance(pool), balance(farmer)) == (0, 100)


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
def test_every_account_kind_but_world_deposits_refuses_to_go_negative(usdc, kind, farmer):
    protected = account(kind, "holder:1", usdc)
    with pytest.raises(InsufficientFunds):
        transaction_post(key=key(), kind="overdraw", legs=[Leg(protected, -1), Leg(farmer, 1)])
    assert balance(protected) == 0


def test_world_deposits_goes_negative_by_every_deposit(usdc, pool):
    deposit(pool, 5)
    deposit(pool, 7)
    assert balance(world_deposits_account(usdc)) == -12


def test_repeating_a_key_with_the_same_legs_returns_the_first_transaction_and_writes_nothing(usdc, pool, farmer):
    deposit(pool, 1_000)
    first = transaction_post(key="settle:7", kind="settlement", legs=[Leg(pool, -400), Leg(farmer, 400)])
    before = row_counts()

    # Same legs, in another order and split differently: the same posting.
    again = transaction_post(
        key="settle:7", kind="settlement", legs=[Leg(farmer, 100), Leg(pool, -400), Leg(farmer, 300)], memo="retry"
    )

    assert again.pk == first.pk
    assert again.memo == ""
    assert row_counts() == before
    assert (balance(pool), balance(farmer)) == (600, 400)


@pytest.mark.parametrize(
    "change",
    ["amount", "account", "kind"],
)
def test_repeating_a_key_with_different_legs_is_an_idempotency_conflict(usdc, pool, farmer, reserved, change):
    deposit(pool, 1_000)
    transaction_post(key="settle:8", kind="settlement", legs=[Leg(pool, -400), Leg(farmer, 400)])
    before = row_counts()
    different = {
        "amount": {"kind": "settlement", "legs": [Leg(pool, -401), Leg(farmer, 401)]},
        "account": {"kind": "settlement", "legs": [Leg(pool, -400), Leg(reserved, 400)]},
        "kind": {"kind": "claim", "legs": [Leg(pool, -400), Leg(farmer, 400)]},
    }[change]

    with pytest.raises(IdempotencyConflict, match="settle:8") as raised:
        transaction_post(key="settle:8", **different)

    assert raised.value.status == 409
    assert row_counts() == before
    assert (balance(pool), balance(farmer), balance(reserved)) == (600, 400, 0)


def test_transaction_reverse_posts_the_mirror_image_and_links_it(usdc, pool, farmer, staff):
    deposit(pool, 1_000)
    original = transaction_post(key="pay:9", kind="payout", legs=[Leg(pool, -250), Leg(farmer, 250)])

    reversal = transaction_reverse(original=original, key="reverse:pay:9", actor=staff)

    assert entries_of(reversal) == {pool.pk: 250, farmer.pk: -250}
    assert (reversal.kind, reversal.reverses_id, reversal.actor_id) == ("reversal", original.pk, staff.pk)
    assert reversal.memo == "Reversal of pay:9"
    assert original.reversed_by == reversal
    assert (balance(pool), balance(farmer)) == (1_000, 0)
    # History is kept: the original still has its entries.
    assert entries_of(Transaction.objects.get(pk=original.pk)) == {pool.pk: -250, farmer.pk: 250}
    # Idempotent under its own key.
    before = row_counts()
    assert transaction_reverse(original=original, key="reverse:pay:9").pk == reversal.pk
    assert row_counts() == before


def test_a_transaction_is_reversed_at_most_once(usdc, pool, farmer):
    deposit(pool, 1_000)
    original = transaction_post(key="pay:10", kind="payout", legs=[Leg(pool, -250), Leg(farmer, 250)])
    transaction_reverse(original=original, key="reverse:a")
    before = row_counts()

    with pytest.raises(Conflict, match="already reversed"):
        transaction_reverse(original=original, key="reverse:b")

    assert row_counts() == before
    assert (balance(pool), balance(farmer)) == (1_000, 0)


def test_a_reversal_that_would_overdraw_is_refused(usdc, pool, farmer):
    treasury = treasury_account(usdc)
    deposit(pool, 1_000)
    original = transaction_post(key="pay:11", kind="payout", legs=[Leg(pool, -250), Leg(farmer, 250)])
    transaction_post(key="spend:11", kind="fee", legs=[Leg(farmer, -200), Leg(treasury, 200)])
    before = row_counts()

    with pytest.raises(InsufficientFunds):
        transaction_reverse(original=original, key="reverse:11")

    assert row_counts() == before
    assert not Transaction.objects.filter(reverses=original).exists()


def test_accounts_are_one_per_kind_holder_and_token(usdc, sol):
    assert account(Kind.USER_BALANCE, "user:1", usdc) == account(Kind.USER_BALANCE, "user:1", usdc)
    assert account(Kind.USER_BALANCE, "user:1", usdc) != account(Kind.USER_BALANCE, "user:1", sol)
    assert account(Kind.USER_BALANCE, "user:1", usdc) != account(Kind.USER_STAKE, "user:1", usdc)
    assert Account.objects.filter(holder="user:1").count() == 3


def test_a_reversal_key_reused_for_another_transaction_with_the_same_legs_is_a_conflict(usdc, pool, farmer):
    deposit(pool, 1_000)
    first = transaction_post(key="pay:12", kind="payout", legs=[Leg(pool, -250), Leg(farmer, 250)])
    second = transaction_post(key="pay:13", kind="payout", legs=[Leg(pool, -250), Leg(farmer, 250)])
    transaction_reverse(original=first, key="reverse:12")

    with pytest.raises(IdempotencyConflict):
        transaction_reverse(original=second, key="reverse:12")

    assert not Transaction.objects.filter(reverses=second).exists()
    assert (balance(pool), balance(farmer)) == (750, 250)


def test_nineteen_digit_amounts_are_stored_and_summed_exactly_on_every_database(eth):
    # 1.234567890123456789 ETH: more significant digits than a float (or SQLite's REAL) holds.
    # (PostgreSQL's NUMERIC(39, 0) goes to 10**30; see test_database_guarantees.py.)
    from ledger.audit import ledger_audit

    wallet = account(Kind.USER_BALANCE, "user:1", eth)
    deposit(wallet, 1_234_567_890_123_456_789)
    deposit(wallet, 7_000_000_000_000_000_001)

    assert balance(wallet) == 8_234_567_890_123_456_790
    assert sorted(Entry.objects.filter(account=wallet).values_list("amount", flat=True)) == [
        1_234_567_890_123_456_789,
        7_000_000_000_000_000_001,
    ]
    report = ledger_audit()
    assert report.ok, report.mismatches
    assert report.tokens["ETH"]["balances"] == "8.234567890123456790"
