"""ledger.services.transactions_post (transaction_post is a batch of one of it): the same rows and
balances as posting one by one, once per key, all or nothing."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.audit import ledger_audit
from ledger.models import Account, Entry, Transaction
from ledger.services import (
    IdempotencyConflict,
    InsufficientFunds,
    Leg,
    Posting,
    accounts_get_many,
    transaction_post,
    transactions_post,
)
from tests.ledger.conftest import Kind, account, balance, deposit, key, row_counts

pytestmark = pytest.mark.django_db


def snapshot(accounts: list[Account], keys: list[str]) -> tuple[dict, dict]:
    """Balances of `accounts`, and for each key its kind, fingerprint and entries."""
    balances = dict(Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("pk", "balance"))
    rows = {}
    for txn in Transaction.objects.filter(idempotency_key__in=keys).prefetch_related("entries"):
        entries = sorted((e.account_id, e.token_id, e.amount) for e in txn.entries.all())
        rows[txn.idempotency_key] = (txn.kind, txn.fingerprint, txn.memo, entries)
    return balances, rows


@pytest.fixture
def wallets(usdc, sol):
    """Three USDC balances (one funded), a USDC treasury, and a SOL balance, all protected."""
    found = {
        "alice": account(Kind.USER_BALANCE, "user:alice", usdc),
        "bob": account(Kind.USER_BALANCE, "user:bob", usdc),
        "carol": account(Kind.USER_BALANCE, "user:carol", usdc),
        "treasury": account(Kind.TREASURY, "protocol", usdc),
        "alice_sol": account(Kind.USER_BALANCE, "user:alice", sol),
        "bob_sol": account(Kind.USER_BALANCE, "user:bob", sol),
    }
    deposit(found["alice"], 1_000_000)
    deposit(found["alice_sol"], 5_000)
    return found


def transfers(wallets, amounts: list[tuple[str, str, int]], prefix: str) -> list[Posting]:
    postings = []
    for index, (source, target, units) in enumerate(amounts):
        legs = [Leg(wallets[source], -units), Leg(wallets[target], units)]
        postings.append(Posting(key=f"{prefix}:{index}", kind="transfer", legs=legs, memo=f"move {index}"))
    return postings


def test_a_batch_writes_the_same_rows_and_balances_as_posting_one_by_one(wallets):
    moves = [
        ("alice", "bob", 300_000),
        ("bob", "carol", 100_000),
        ("alice", "treasury", 1),
        ("alice_sol", "bob_sol", 4_999),
        ("carol", "alice", 100_000),
    ]
    postings = transfers(wallets, moves, "same")
    keys = [p.key for p in postings]
    accounts = list(wallets.values())

    with transaction.atomic():
        for posting in postings:
            transaction_post(key=posting.key, kind=posting.kind, legs=posting.legs, memo=posting.memo)
        one_by_one = snapshot(accounts, keys)
        transaction.set_rollback(True)
    assert Transaction.objects.filter(idempotency_key__in=keys).count() == 0  # rolled back

    result = transactions_post(postings)

    assert set(result) == set(keys)
    assert snapshot(accounts, keys) == one_by_one
    assert balance(wallets["alice"]) == 1_000_000 - 300_000 - 1 + 100_000
    assert balance(wallets["carol"]) == 0
    assert ledger_audit().ok


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    moves=st.lists(
        st.tuples(
            st.sampled_from(["alice", "bob", "carol"]),
            st.sampled_from(["alice", "bob", "carol", "treasury"]),
            st.integers(min_value=1, max_value=400_000),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_batch_that_posts_one_by_one_posts_identically_at_once(wallets, moves):
    moves = [move for move in moves if move[0] != move[1]]
    if not moves:
        return
    postings = transfers(wallets, moves, key("prop"))
    keys = [p.key for p in postings]
    accounts = list(wallets.values())
    with transaction.atomic():
        try:
            with transaction.atomic():
                for posting in postings:
                    transaction_post(key=posting.key, kind=posting.kind, legs=posting.legs, memo=posting.memo)
        except InsufficientFunds:
            one_by_one = None  # some posting overdraws on its own: the batch must refuse too if its net does
        else:
            one_by_one = snapshot(accounts, keys)
        transaction.set_rollback(True)

    with transaction.atomic():
        try:
            transactions_post(postings)
        except InsufficientFunds:
            assert one_by_one is None
            assert snapshot(accounts, keys)[1] == {}
        else:
            if one_by_one is not None:
                assert snapshot(accounts, keys) == one_by_one
            assert all(Account.objects.get(pk=a.pk).balance >= 0 for a in accounts)
        transaction.set_rollback(True)


def test_posting_the_same_batch_again_returns_the_first_transactions_and_writes_nothing(wallets):
    postings = transfers(wallets, [("alice", "bob", 10), ("alice", "carol", 20)], key("again"))
    first = transactions_post(postings)
    rows = row_counts()

    second = transactions_post(postings)

    assert {k: t.pk for k, t in second.items()} == {k: t.pk for k, t in first.items()}
    assert row_counts() == rows
    assert balance(wallets["bob"]) == 10
    assert balance(wallets["carol"]) == 20


def test_a_batch_mixing_posted_and_new_keys_posts_only_the_new_ones(wallets):
    prefix = key("mixed")
    first = transactions_post(transfers(wallets, [("alice", "bob", 10)], prefix))
    both = transfers(wallets, [("alice", "bob", 10), ("alice", "carol", 20)], prefix)

    result = transactions_post(both)

    assert result[f"{prefix}:0"].pk == first[f"{prefix}:0"].pk
    assert balance(wallets["bob"]) == 10  # not twice
    assert balance(wallets["carol"]) == 20
    assert Entry.objects.filter(transaction__idempotency_key__startswith=prefix).count() == 4


def test_the_single_path_accepts_a_key_the_batch_posted_with_the_same_legs(wallets):
    (posting,) = transfers(wallets, [("alice", "bob", 10)], key("cross"))
    batch = transactions_post([posting])[posting.key]

    again = transaction_post(key=posting.key, kind=posting.kind, legs=posting.legs)

    assert again.pk == batch.pk
    assert balance(wallets["bob"]) == 10


def test_a_posted_key_with_a_changed_payload_is_a_conflict_and_the_batch_writes_nothing(wallets):
    prefix = key("conflict")
    transactions_post(transfers(wallets, [("alice", "bob", 10)], prefix))
    rows = row_counts()
    changed = transfers(wallets, [("alice", "bob", 11), ("alice", "carol", 20)], prefix)

    with pytest.raises(IdempotencyConflict):
        transactions_post(changed)

    assert row_counts() == rows
    assert balance(wallets["bob"]) == 10
    assert balance(wallets["carol"]) == 0


def test_a_changed_kind_for_a_posted_key_is_a_conflict_too(wallets):
    (posting,) = transfers(wallets, [("alice", "bob", 10)], key("kind"))
    transactions_post([posting])

    with pytest.raises(IdempotencyConflict):
        transactions_post([Posting(key=posting.key, kind="other", legs=posting.legs)])


def test_one_overdrawing_posting_refuses_the_whole_batch(wallets):
    rows = row_counts()
    before = {name: balance(a) for name, a in wallets.items()}
    postings = transfers(wallets, [("alice", "bob", 10), ("carol", "treasury", 1), ("alice", "bob", 5)], key("nsf"))

    with pytest.raises(InsufficientFunds):
        transactions_post(postings)

    assert row_counts() == rows
    assert {name: balance(a) for name, a in wallets.items()} == before


def test_an_overdraft_on_any_token_refuses_the_batch(wallets):
    rows = row_counts()
    postings = transfers(wallets, [("alice", "bob", 10), ("alice_sol", "bob_sol", 5_001)], key("nsf-sol"))

    with pytest.raises(InsufficientFunds):
        transactions_post(postings)

    assert row_counts() == rows
    assert balance(wallets["bob"]) == 0


def test_duplicate_keys_in_one_batch_are_refused_before_anything_is_written(wallets):
    rows = row_counts()
    (posting,) = transfers(wallets, [("alice", "bob", 10)], key("dup"))

    with pytest.raises(ValueError, match="duplicate"):
        transactions_post([posting, posting])

    assert row_counts() == rows
    assert balance(wallets["bob"]) == 0


def test_an_empty_batch_posts_nothing():
    rows = row_counts()
    assert transactions_post([]) == {}
    assert row_counts() == rows


def test_legs_on_the_same_account_are_merged_as_the_single_path_merges_them(wallets):
    posting = Posting(
        key=key("merge"),
        kind="transfer",
        legs=[Leg(wallets["alice"], -7), Leg(wallets["alice"], -3), Leg(wallets["bob"], 10), Leg(wallets["carol"], 0)],
    )

    txn = transactions_post([posting])[posting.key]

    assert sorted((e.account_id, e.amount) for e in txn.entries.all()) == sorted(
        [(wallets["alice"].pk, -10), (wallets["bob"].pk, 10)]
    )


def test_accounts_get_many_returns_existing_accounts_and_creates_the_missing_ones_once(wallets, usdc, sol):
    specs = [
        (Kind.USER_BALANCE, "user:alice", usdc.pk),
        (Kind.USER_BALANCE, "user:dave", usdc.pk),
        (Kind.USER_BALANCE, "user:dave", sol.pk),
    ]

    found = accounts_get_many(specs)
    again = accounts_get_many(specs)

    assert found[specs[0]].pk == wallets["alice"].pk
    assert {k: a.pk for k, a in again.items()} == {k: a.pk for k, a in found.items()}
    assert Account.objects.filter(holder="user:dave").count() == 2
    assert accounts_get_many([]) == {}
