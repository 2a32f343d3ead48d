"""Posting many transactions at once, set-based: the batch twin of `transaction_post`.

Same rules, same guarantees (balanced per token, idempotency keys, protected balances never
negative, accounts locked in primary-key order, append-only rows, the PostgreSQL triggers),
but a batch of N transactions costs a handful of statements instead of ~5N, each taking its
rows as one JSON parameter (`core.db.with_rows`), so neither Django nor the driver handles
thousands of parameters:

    1 SELECT  ids for the transactions (the sequence), unless the caller reserved them
    1 INSERT  the transactions, ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
    1 SELECT  the transactions that already existed (to compare their fingerprints)
    1 INSERT  every entry of the new transactions
    SET CONSTRAINTS  the deferred checks (balance trigger, foreign keys) now, not at COMMIT
    1 SELECT ... FOR UPDATE  every account touched, in primary-key order
    1 UPDATE  ledger_account ... one delta per account

The accounts are locked last, and the deferred checks fired before, so a batch holds the
busiest rows of the ledger (the treasury, an ambassador's balance) only for its last two
statements and its COMMIT: two workers posting batches overlap everything else. The two halves
are public (`transactions_write`, then `balances_apply`, in one database transaction) for a
caller that must lock its own rows in between. A caller that must write rows pointing at the
transactions first reserves their ids (`transaction_ids_reserve`, `Posting.id`): the foreign
keys are checked once the transactions exist.

All-or-nothing: if the batch would leave a protected account negative, nothing is written and
`InsufficientFunds` is raised. The check is on each account's net change over the batch (the
batch is one atomic unit: no other transaction ever sees an intermediate balance), so a debit
covered by a credit later in the same batch is accepted where posting one by one in that
order would not; a key that exists with different legs raises
`IdempotencyConflict`. A key posted concurrently by someone else is not written twice: the
insert skips it and it is compared like any existing key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.db import rows_json, with_rows

from .models import Account, Entry, Transaction
from .services import (
    NEGATIVE_ALLOWED,
    IdempotencyConflict,
    InsufficientFunds,
    Leg,
    _check_names,
    _fingerprint,
    _normalise,
)


@dataclass(frozen=True, slots=True)
class Posting:
    key: str
    kind: str
    legs: Sequence[Leg]
    memo: str = ""
    id: int | None = None  # reserved with `transaction_ids_reserve`; None: taken here


# The statements, each taking its rows as one JSON parameter (core.db.rows_json).
INSERT_TRANSACTIONS = with_rows(
    "INSERT INTO ledger_transaction (id, idempotency_key, kind, fingerprint, memo, created_at) "
    "SELECT id, k, kd, f, m, %s FROM {rows} AS v "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key, id",
    [("id", "bigint"), ("k", "text"), ("kd", "text"), ("f", "text"), ("m", "text")],
)
INSERT_ENTRIES = with_rows(
    "INSERT INTO ledger_entry (transaction_id, account_id, token_id, amount) SELECT * FROM {rows} AS v",
    [("t", "bigint"), ("a", "bigint"), ("k", "bigint"), ("amount", "numeric")],
)
UPDATE_BALANCES = with_rows(
    "UPDATE ledger_account AS a SET balance = a.balance + v.delta FROM {rows} AS v WHERE a.id = v.id",
    [("id", "bigint"), ("delta", "numeric")],
)


def transaction_ids_reserve(count: int) -> list[int]:
    """`count` fresh ids for transactions about to be posted (a key that turns out to exist
    keeps its first transaction; its reserved id is simply never used)."""
    if count <= 0:
        return []
    if connection.vendor != "postgresql":  # the SQLite demo: ids are taken at insert
        return [None] * count
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('ledger_transaction', 'id')) FROM generate_series(1, %s)", [count]
        )
        return [row[0] for row in cursor.fetchall()]


def accounts_get_many(specs: Sequence[tuple[str, str, int]]) -> dict[tuple[str, str, int], Account]:
    """{(kind, holder, token_id): Account} for every spec, creating the missing ones in bulk."""
    wanted = set(specs)
    if not wanted:
        return {}
    kinds, holders, tokens = ({spec[i] for spec in wanted} for i in range(3))

    def load() -> dict[tuple[str, str, int], Account]:
        found = Account.objects.filter(kind__in=kinds, holder__in=holders, token_id__in=tokens).only(
            "id", "kind", "holder", "token_id", "balance"
        )
        return {(a.kind, a.holder, a.token_id): a for a in found if (a.kind, a.holder, a.token_id) in wanted}

    accounts = load()
    missing = wanted - accounts.keys()
    if missing:
        Account.objects.bulk_create(
            [Account(kind=kind, holder=holder, token_id=token_id) for kind, holder, token_id in missing],
            ignore_conflicts=True,  # created concurrently: fine, we read it back
        )
        accounts = load()
    return accounts


def _insert_transactions(fresh, now) -> dict[str, int]:
    """{key: id} of the transactions this call created (keys that exist are skipped)."""
    if connection.vendor != "postgresql":  # the zero-setup SQLite demo
        created = {}
        for posting, _, fingerprint in fresh:
            if not Transaction.objects.filter(idempotency_key=posting.key).exists():
                txn = Transaction.objects.create(
                    idempotency_key=posting.key, kind=posting.kind, fingerprint=fingerprint, memo=posting.memo[:255]
                )
                created[posting.key] = txn.pk
        return created
    ids = [posting.id for posting, _, _ in fresh]
    missing = [index for index, pk in enumerate(ids) if pk is None]
    for index, pk in zip(missing, transaction_ids_reserve(len(missing)), strict=True):
        ids[index] = pk
    rows = [
        (pk, posting.key, posting.kind, fingerprint, posting.memo[:255])
        for pk, (posting, _, fingerprint) in zip(ids, fresh, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(INSERT_TRANSACTIONS, [now, rows_json(rows)])
        return dict(cursor.fetchall())


def _apply_deltas(deltas: dict[int, int]) -> None:
    """One UPDATE for every account's balance change."""
    if not deltas:
        return
    if connection.vendor != "postgresql":
        for pk, delta in deltas.items():
            Account.objects.filter(pk=pk).update(balance=F("balance") + delta)
        return
    with connection.cursor() as cursor:
        cursor.execute(UPDATE_BALANCES, [rows_json(sorted(deltas.items()))])


def _insert_entries(rows: list[tuple[int, int, int, int]]) -> None:
    """(transaction_id, account_id, token_id, amount) rows, in one statement."""
    if connection.vendor != "postgresql":
        Entry.objects.bulk_create(
            [Entry(transaction_id=t, account_id=a, token_id=k, amount=amount) for t, a, k, amount in rows],
            batch_size=500,
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(INSERT_ENTRIES, [rows_json(rows)])


@dataclass(frozen=True, slots=True)
class WrittenBatch:
    """What `transactions_write` wrote: {key: Transaction} (existing ones included) and the
    balance change of every account, still to be applied by `balances_apply`."""

    transactions: dict[str, Transaction]
    deltas: dict[int, int]


@transaction.atomic
def transactions_post_many(postings: Sequence[Posting]) -> dict[str, Transaction]:
    """Post every posting once per key; returns {key: Transaction} (existing ones included)."""
    batch = transactions_write(postings)
    balances_apply(batch.deltas)
    return batch.transactions


def transactions_write(postings: Sequence[Posting]) -> WrittenBatch:
    """The first half of `transactions_post_many`: write the transactions and their entries
    and check them (balanced, consistent), locking no account. `balances_apply` must follow
    in the same database transaction: a caller can lock other rows in between (the lock order
    is theirs, then the accounts)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transactions_write runs inside a transaction, followed by balances_apply")
    prepared = []
    for posting in postings:
        _check_names(posting.key, posting.kind)
        merged = _normalise(posting.legs)
        prepared.append((posting, merged, _fingerprint(posting.kind, merged)))
    keys = [posting.key for posting, _, _ in prepared]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate idempotency keys in one batch")
    if not prepared:
        return WrittenBatch({}, {})

    now = timezone.now()
    created = _insert_transactions(prepared, now)
    skipped = [item for item in prepared if item[0].key not in created]
    result = {}
    if skipped:
        result = {
            txn.idempotency_key: txn
            for txn in Transaction.objects.filter(idempotency_key__in=[p.key for p, _, _ in skipped])
        }
    for posting, _, fingerprint in skipped:
        if posting.key not in result or result[posting.key].fingerprint != fingerprint:
            raise IdempotencyConflict(posting.key)

    deltas: dict[int, int] = defaultdict(int)
    entries = []
    for posting, merged, fingerprint in prepared:
        txn_id = created.get(posting.key)
        if txn_id is None:
            continue
        for account, amount in merged:
            deltas[account.pk] += amount
            entries.append((txn_id, account.pk, account.token_id, amount))
        txn = Transaction(
            id=txn_id,
            idempotency_key=posting.key,
            kind=posting.kind,
            fingerprint=fingerprint,
            memo=posting.memo[:255],
            created_at=now,
        )
        txn._state.adding, txn._state.db = False, connection.alias
        result[posting.key] = txn
    if entries:
        _insert_entries(entries)
    _check_deferred_constraints()
    return WrittenBatch(result, dict(deltas))


def _check_deferred_constraints() -> None:
    """Run the checks PostgreSQL defers to COMMIT (the balance trigger, the foreign keys) now,
    before the accounts are locked, so COMMIT has nothing left to check while they are held.
    Everything written so far in the database transaction must be consistent by now."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def balances_apply(deltas: dict[int, int]) -> None:
    """The second half: lock the accounts (primary-key order), refuse an overdraft of a
    protected account (`InsufficientFunds`, nothing applied), apply every change at once."""
    if not deltas:
        return
    # FOR NO KEY UPDATE (as in transaction_post); only the balances are read back.
    locked = {
        pk: (kind, balance)
        for pk, kind, balance in Account.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(deltas))
        .order_by("pk")
        .values_list("pk", "kind", "balance")
    }
    for pk, delta in deltas.items():
        kind, balance = locked[pk]
        if balance + delta < 0 and kind not in NEGATIVE_ALLOWED:
            raise InsufficientFunds(Account.objects.select_related("token").get(pk=pk), -delta)
    _apply_deltas(deltas)
