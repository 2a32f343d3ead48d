"""transaction_post under real concurrency: threads, each with its own PostgreSQL connection,
committing for real (`transactional_db`), started together at a barrier."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import OperationalError, connection, transaction

from core.db import run_with_retry
from ledger.audit import ledger_audit
from ledger.models import Account, Token, Transaction
from ledger.services import (
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientFunds,
    Leg,
    transaction_post,
    transaction_reverse,
)
from tests.ledger.conftest import Kind, account, balance, deposit

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def run_in_threads(count: int, work) -> list:
    """Run work(index) in `count` threads released together; returns each result or exception."""
    barrier = threading.Barrier(count, timeout=30)
    results: list = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:  # collected and asserted on by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a posting thread hung"
    return results


def kinds_of(results: list) -> Counter:
    return Counter(type(result).__name__ for result in results)


@pytest.fixture
def usdc():
    return Token.objects.get(symbol="USDC")


def assert_audit_clean():
    report = ledger_audit()
    assert report.ok, report.mismatches
    return report


def test_threads_draining_one_pool_never_overdraw_it_and_every_unit_is_accounted_for(usdc):
    pool = account(Kind.POOL_AVAILABLE, "pool:1", usdc)
    deposit(pool, 1_000)
    threads, attempts, amount = 8, 10, 37

    def drain(index: int) -> list:
        farmer = account(Kind.USER_BALANCE, f"user:{index}", usdc)
        outcomes = []
        for attempt in range(attempts):
            try:
                transaction_post(
                    key=f"claim:{index}:{attempt}", kind="claim", legs=[Leg(pool, -amount), Leg(farmer, amount)]
                )
                outcomes.append("ok")
            except InsufficientFunds:
                outcomes.append("insufficient")
        return outcomes

    results = run_in_threads(threads, drain)

    assert all(isinstance(result, list) for result in results), results
    successes = sum(result.count("ok") for result in results)
    assert successes == 1_000 // amount == 27
    assert balance(pool) == 1_000 - successes * amount == 1
    paid = Account.objects.filter(kind=Kind.USER_BALANCE, token=usdc).values_list("balance", flat=True)
    assert sum(paid) == successes * amount
    assert Transaction.objects.filter(kind="claim").count() == successes
    assert_audit_clean()


def test_one_idempotency_key_posted_from_many_threads_makes_one_transaction(usdc):
    pool = account(Kind.POOL_AVAILABLE, "pool:1", usdc)
    farmer = account(Kind.USER_BALANCE, "user:1", usdc)
    deposit(pool, 1_000)

    results = run_in_threads(
        8, lambda index: transaction_post(key="settle:1", kind="settlement", legs=[Leg(pool, -400), Leg(farmer, 400)])
    )

    assert kinds_of(results) == {"Transaction": 8}, results
    assert len({txn.pk for txn in results}) == 1
    assert Transaction.objects.filter(idempotency_key="settle:1").count() == 1
    assert (balance(pool), balance(farmer)) == (600, 400)
    assert_audit_clean()


def test_one_key_posted_concurrently_with_different_legs_pays_one_version_and_refuses_the_rest(usdc):
    pool = account(Kind.POOL_AVAILABLE, "pool:1", usdc)
    farmer = account(Kind.USER_BALANCE, "user:1", usdc)
    deposit(pool, 1_000)

    # Threads 0-3 post 100, threads 4-7 post 200, all under one key.
    def post(index: int):
        amount = 100 if index < 4 else 200
        return transaction_post(key="settle:2", kind="settlement", legs=[Leg(pool, -amount), Leg(farmer, amount)])

    results = run_in_threads(8, post)

    assert kinds_of(results) == {"Transaction": 4, "IdempotencyConflict": 4}, results
    winners = [index for index, result in enumerate(results) if not isinstance(result, IdempotencyConflict)]
    assert winners in ([0, 1, 2, 3], [4, 5, 6, 7])
    paid = 100 if winners == [0, 1, 2, 3] else 200
    assert len({results[index].pk for index in winners}) == 1
    assert (balance(pool), balance(farmer)) == (1_000 - paid, paid)
    assert Transaction.objects.filter(idempotency_key="settle:2").count() == 1
    assert_audit_clean()


def test_postings_across_the_same_accounts_in_different_leg_orders_do_not_deadlock(usdc):
    ring = [account(Kind.USER_BALANCE, f"user:{index}", usdc) for index in range(3)]
    for member in ring:
        deposit(member, 1_000_000)
    rounds = 15

    def post(index: int) -> int:
        # Each thread touches all three accounts, listing the legs in its own order.
        a, b, c = ring[index % 3], ring[(index + 1) % 3], ring[(index + 2) % 3]
        legs = [Leg(a, -2), Leg(b, 1), Leg(c, 1)]
        if index % 2:
            legs.reverse()
        for round_ in range(rounds):
            transaction_post(key=f"ring:{index}:{round_}", kind="ring", legs=legs)
        return rounds

    results = run_in_threads(6, post)

    assert results == [rounds] * 6, results  # a deadlock would surface as OperationalError
    # Every account sent 2 x rounds x 2 threads and received 1 x rounds x 4 threads.
    assert [balance(member) for member in ring] == [1_000_000] * 3
    assert Transaction.objects.filter(kind="ring").count() == 6 * rounds
    assert_audit_clean()


def test_concurrent_reversals_of_one_transaction_post_exactly_one(usdc):
    pool = account(Kind.POOL_AVAILABLE, "pool:1", usdc)
    farmer = account(Kind.USER_BALANCE, "user:1", usdc)
    deposit(pool, 1_000)
    original = transaction_post(key="pay:1", kind="payout", legs=[Leg(pool, -300), Leg(farmer, 300)])

    results = run_in_threads(6, lambda index: transaction_reverse(original=original, key=f"reverse:{index}"))

    assert kinds_of(results) == {"Transaction": 1, "AlreadyReversed": 5}, results
    assert all(isinstance(r, Transaction | AlreadyReversed) for r in results)
    assert Transaction.objects.filter(reverses=original).count() == 1
    assert (balance(pool), balance(farmer)) == (1_000, 0)
    assert_audit_clean()


def _lock_then_post(first: Account, second: Account, barrier: threading.Barrier | None, key: str) -> Transaction:
    """A caller that holds a lock on `first` (as a service locks its own rows) and then posts
    to `second`: two such callers in opposite orders deadlock in PostgreSQL."""
    Account.objects.select_for_update().get(pk=first.pk)
    if barrier is not None:
        barrier.wait()  # both hold their first lock before either posts
    return transaction_post(key=key, kind="transfer", legs=[Leg(second, -5), Leg(first, 5)])


def _opposite_order_postings(usdc, *, retry: bool, tries: int = 4) -> tuple[list, Account, Account]:
    left = account(Kind.USER_BALANCE, "user:left", usdc)
    right = account(Kind.USER_BALANCE, "user:right", usdc)
    deposit(left, 100)
    deposit(right, 100)
    barrier = threading.Barrier(2, timeout=10)

    def work(index: int):
        first, second = (left, right) if index == 0 else (right, left)
        attempts = []

        def unit():
            attempts.append(1)
            return _lock_then_post(first, second, barrier if len(attempts) == 1 else None, f"transfer:{index}")

        if retry:
            return run_with_retry(unit, attempts=tries)
        with transaction.atomic():
            return unit()

    return run_in_threads(2, work), left, right


def test_a_deadlock_between_callers_surfaces_as_an_operational_error_without_retry(usdc):
    results, left, right = _opposite_order_postings(usdc, retry=False)

    assert sorted(kinds_of(results).elements()) == ["OperationalError", "Transaction"], results
    failed = next(result for result in results if isinstance(result, OperationalError))
    assert failed.__cause__.sqlstate == "40P01"  # deadlock_detected
    assert balance(left) + balance(right) == 200
    assert Transaction.objects.filter(kind="transfer").count() == 1


def test_run_with_retry_reruns_a_deadlocked_unit_with_the_same_keys(usdc):
    results, left, right = _opposite_order_postings(usdc, retry=True)

    assert kinds_of(results) == {"Transaction": 2}, results
    assert Transaction.objects.filter(kind="transfer").count() == 2
    assert (balance(left), balance(right)) == (100, 100)
    assert_audit_clean()


def test_with_its_attempts_spent_the_loser_answers_busy_and_writes_nothing(usdc):
    results, left, right = _opposite_order_postings(usdc, retry=True, tries=1)

    assert sorted(kinds_of(results).elements()) == ["Transaction", "TransactionBusy"], results
    assert Transaction.objects.filter(kind="transfer").count() == 1
    assert balance(left) + balance(right) == 200
    assert_audit_clean()
