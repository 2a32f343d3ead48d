"""Posting to the ledger: the one writer of ledger rows (transactions and entries).

A single posting is a batch of one (pgledger: `create_transfer` is `create_transfers` of one):
`transaction_post` calls `transactions_post([posting])`, so every posting in the project runs
the same statements and the same rules (docs/ledger.md):

- every leg is a non-zero integer amount in base units; legs sum to zero per token;
- one transaction per idempotency key: the same key with the same legs returns the first
  transaction; the same key with different legs raises `IdempotencyConflict`;
- a transaction is reversed at most once (`AlreadyReversed`);
- **one overdraft rule**: after the posting (or the batch, one atomic unit) no account other
  than `world_deposits` is negative. The check is on each account's net change over the unit,
  so within one batch a debit covered by a credit in the same batch is accepted; refused
  (`InsufficientFunds`) means nothing is written;
- accounts are locked in primary-key order, last (see `transactions_write`/`balances_apply`).

The statements, each taking its rows as one JSON parameter (`core.db.with_rows`):

    1 INSERT  the transactions, ON CONFLICT DO NOTHING RETURNING id (a key that exists, or a
              second reversal of one transaction, is skipped and then compared)
    1 SELECT  the transactions that already existed (only when some were skipped)
    1 INSERT  every entry of the new transactions
    SET CONSTRAINTS  the deferred checks (balance trigger, foreign keys) now, not at COMMIT
    1 SELECT ... FOR NO KEY UPDATE  every account touched, in primary-key order (ledger/locks.py)
    1 UPDATE  ledger_account: one delta per account, after the overdraft check

The two halves are public (`transactions_write`, then `balances_apply`, in one database
transaction) for a caller that locks its own rows in between (settlement locks the factories
there). A caller that must write rows pointing at the transactions first reserves their ids
(`transaction_ids_reserve`, `Posting.id`): the foreign keys are checked once they exist.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.db import bulk_insert_values, rows_json, with_rows
from core.exceptions import ApplicationError, Conflict

from .locks import accounts_lock
from .models import Account, Token, Transaction

NEGATIVE_ALLOWED = {Account.Kind.WORLD_DEPOSITS}


class LedgerError(ApplicationError):
    """A posting that can never be right (unbalanced, empty, zero legs)."""


class InsufficientFunds(Conflict):
    def __init__(self, account: Account, needed: int):
        self.account = account
        self.needed = needed
        money = account.token.money
        super().__init__(
            f"Insufficient funds: {account.get_kind_display().lower()} holds "
            f"{money(account.balance)}, {money(needed)} needed."
        )


class IdempotencyConflict(Conflict):
    def __init__(self, key: str):
        super().__init__(f"Idempotency key {key!r} was already used for a different transaction.")


class AlreadyReversed(Conflict):
    def __init__(self, original: Transaction):
        super().__init__(f"Transaction {original.idempotency_key!r} was already reversed.")


@dataclass(frozen=True, slots=True)
class Leg:
    account: Account
    amount: int  # signed base units: positive raises the account's balance


def account_get(*, kind: str, holder: str, token: Token) -> Account:
    """The account for (kind, holder, token), created on first use."""
    account = Account.objects.filter(kind=kind, holder=holder, token=token).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return Account.objects.create(kind=kind, holder=holder, token=token)
    except IntegrityError:  # created concurrently
        return Account.objects.get(kind=kind, holder=holder, token=token)


def treasury_account(token: Token) -> Account:
    return account_get(kind=Account.Kind.TREASURY, holder="protocol", token=token)


def world_deposits_account(token: Token) -> Account:
    return account_get(kind=Account.Kind.WORLD_DEPOSITS, holder="world", token=token)


def world_withdrawals_account(token: Token) -> Account:
    return account_get(kind=Account.Kind.WORLD_WITHDRAWALS, holder="world", token=token)


def _normalise(legs: Sequence[Leg]) -> list[tuple[Account, int]]:
    """Merge legs on the same account, drop zero legs, check the balance per token."""
    totals: dict[int, int] = defaultdict(int)
    accounts: dict[int, Account] = {}
    for leg in legs:
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int):
            raise LedgerError("Ledger amounts are integers in base units.")
        accounts[leg.account.pk] = leg.account
        totals[leg.account.pk] += leg.amount
    merged = [(accounts[pk], amount) for pk, amount in sorted(totals.items()) if amount != 0]
    if not merged:
        raise LedgerError("A transaction needs at least one non-zero leg.")
    per_token: dict[int, int] = defaultdict(int)
    for account, amount in merged:
        per_token[account.token_id] += amount
    unbalanced = {token_id: total for token_id, total in per_token.items() if total != 0}
    if unbalanced:
        raise LedgerError(f"Unbalanced transaction: legs sum to {unbalanced} (token id: units).")
    return merged


def _check_names(key: str, kind: str) -> None:
    for name, value in (("idempotency_key", key), ("kind", kind)):
        limit = Transaction._meta.get_field(name).max_length
        if not isinstance(value, str) or not 0 < len(value) <= limit:
            label = "An idempotency key" if name == "idempotency_key" else "A transaction kind"
            raise LedgerError(f"{label} of 1 to {limit} characters is required, got {value!r}.")


def _fingerprint(kind: str, merged: list[tuple[Account, int]], reverses: Transaction | None = None) -> str:
    text = kind + "|" + ";".join(f"{account.pk}:{amount}" for account, amount in merged)
    if reverses is not None:
        text += f"|reverses:{reverses.pk}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Posting:
    """One transaction to post: its idempotency key, kind and legs."""

    key: str
    kind: str
    legs: Sequence[Leg]
    memo: str = ""
    id: int | None = None  # reserved with `transaction_ids_reserve`; None: taken at insert
    actor_id: int | None = None
    reverses: Transaction | None = None


# The statements, each taking its rows as one JSON parameter (core.db.rows_json). No conflict
# target: a key that exists and a second reversal of one transaction are both skipped here and
# told apart afterwards (`transactions_write`), with no savepoint.
INSERT_TRANSACTIONS = with_rows(
    "INSERT INTO ledger_transaction (id, idempotency_key, kind, fingerprint, memo, actor_id, reverses_id, created_at) "
    "SELECT COALESCE(id, nextval(pg_get_serial_sequence('ledger_transaction', 'id'))), k, kd, f, m, actor, rev, %s "
    "FROM {rows} AS v ON CONFLICT DO NOTHING RETURNING idempotency_key, id",
    [
        ("id", "bigint"),
        ("k", "text"),
        ("kd", "text"),
        ("f", "text"),
        ("m", "text"),
        ("actor", "bigint"),
        ("rev", "bigint"),
    ],
)
INSERT_ENTRIES = with_rows(
    "INSERT INTO ledger_entry (transaction_id, account_id, token_id, amount) SELECT * FROM {rows} AS v",
    [("t", "bigint"), ("a", "bigint"), ("k", "bigint"), ("amount", "numeric")],
)
UPDATE_BALANCES = with_rows(
    "UPDATE ledger_account AS a SET balance = a.balance + v.delta FROM {rows} AS v WHERE a.id = v.id "
    "RETURNING a.id, a.balance",
    [("id", "bigint"), ("delta", "numeric")],
)


def transaction_ids_reserve(count: int) -> list[int]:
    """`count` fresh ids for transactions about to be posted (a key that turns out to exist
    keeps its first transaction; its reserved id is simply never used)."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('ledger_transaction', 'id')) FROM generate_series(1, %s)", [count]
        )
        return [row[0] for row in cursor.fetchall()]


ACCOUNTS_BY_SPEC_SQL = with_rows(
    "SELECT a.id, a.kind, a.holder, a.token_id, a.balance FROM ledger_account AS a "
    "JOIN {rows} AS v ON a.kind = v.kind AND a.holder = v.holder AND a.token_id = v.token_id",
    [("kind", "text"), ("holder", "text"), ("token_id", "bigint")],
)


def accounts_get_many(specs: Sequence[tuple[str, str, int]]) -> dict[tuple[str, str, int], Account]:
    """{(kind, holder, token_id): Account} for every spec, creating the missing ones in bulk
    (the set-based `account_get`)."""
    wanted = set(specs)
    if not wanted:
        return {}
    # The exact (kind, holder, token) triples as one JSON parameter joined on the unique index:
    # `kind IN (...) AND holder IN (...) AND token IN (...)` took a placeholder per holder and
    # loaded every token's account of each holder (up to 4 times the rows asked for).
    wanted_json = rows_json(sorted(wanted))

    def load() -> dict[tuple[str, str, int], Account]:
        found = Account.objects.raw(ACCOUNTS_BY_SPEC_SQL, [wanted_json])
        return {(a.kind, a.holder, a.token_id): a for a in found}

    accounts = load()
    missing = wanted - accounts.keys()
    if missing:
        now = timezone.now()
        bulk_insert_values(
            Account,
            ("kind", "holder", "token", "balance", "created_at"),
            [(kind, holder, token_id, 0, now) for kind, holder, token_id in sorted(missing)],
            unique=("kind", "holder", "token"),  # created concurrently: fine, we read it back
        )
        accounts = load()
    return accounts


@dataclass(frozen=True, slots=True)
class WrittenBatch:
    """What `transactions_write` wrote: {key: Transaction} (existing ones included) and the
    balance change of every account, still to be applied by `balances_apply`."""

    transactions: dict[str, Transaction]
    deltas: dict[int, int]


@transaction.atomic
def transactions_post(postings: Sequence[Posting]) -> dict[str, Transaction]:
    """Post every posting once per key, all or nothing; returns {key: Transaction} (existing
    ones included). See the module docstring."""
    batch = transactions_write(postings)
    balances_apply(batch.deltas)
    return batch.transactions


@transaction.atomic
def transaction_post(
    *,
    key: str,
    kind: str,
    legs: Sequence[Leg],
    memo: str = "",
    actor=None,
    reverses: Transaction | None = None,
) -> Transaction:
    """Post one balanced transaction once per `key`: a batch of one (`transactions_post`).
    The caller's `Account` objects are brought up to date with the balances written."""
    posting = Posting(key=key, kind=kind, legs=legs, memo=memo, actor_id=getattr(actor, "pk", None), reverses=reverses)
    batch = transactions_write([posting])
    balances = balances_apply(batch.deltas)
    for leg in legs:
        if leg.account.pk in balances:
            leg.account.balance = balances[leg.account.pk]
    return batch.transactions[key]


def transactions_write(postings: Sequence[Posting]) -> WrittenBatch:
    """The first half of `transactions_post`: write the transactions and their entries and
    check them (balanced, consistent), locking no account. `balances_apply` must follow in the
    same database transaction: a caller can lock other rows in between (the lock order is
    theirs, then the accounts)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("transactions_write runs inside a transaction, followed by balances_apply")
    prepared = []
    for posting in postings:
        _check_names(posting.key, posting.kind)
        merged = _normalise(posting.legs)
        prepared.append((posting, merged, _fingerprint(posting.kind, merged, posting.reverses)))
    keys = [posting.key for posting, _, _ in prepared]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate idempotency keys in one batch")
    if not prepared:
        return WrittenBatch({}, {})

    now = timezone.now()
    rows = [
        (
            posting.id,
            posting.key,
            posting.kind,
            fingerprint,
            posting.memo[:255],
            posting.actor_id,
            posting.reverses.pk if posting.reverses is not None else None,
        )
        for posting, _, fingerprint in prepared
    ]
    with connection.cursor() as cursor:
        cursor.execute(INSERT_TRANSACTIONS, [now, rows_json(rows)])
        created = dict(cursor.fetchall())
    skipped = [item for item in prepared if item[0].key not in created]
    result = {}
    if skipped:
        result = {
            txn.idempotency_key: txn
            for txn in Transaction.objects.filter(idempotency_key__in=[p.key for p, _, _ in skipped])
        }
    for posting, _, fingerprint in skipped:
        if posting.key not in result:
            # Skipped, yet no transaction has this key: the other unique column, `reverses`,
            # already has its reversal (the insert waited for a concurrent one to commit).
            if posting.reverses is not None:
                raise AlreadyReversed(posting.reverses)
            raise IdempotencyConflict(posting.key)
        if result[posting.key].fingerprint != fingerprint:
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
            actor_id=posting.actor_id,
            reverses=posting.reverses,
            created_at=now,
        )
        txn._state.adding, txn._state.db = False, connection.alias
        result[posting.key] = txn
    with connection.cursor() as cursor:
        if entries:
            cursor.execute(INSERT_ENTRIES, [rows_json(entries)])
        # The checks PostgreSQL defers to COMMIT (the balance trigger, the foreign keys) run
        # now, before the accounts are locked, so COMMIT has nothing left to check while they
        # are held. Everything written so far in the database transaction must be consistent.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return WrittenBatch(result, {pk: delta for pk, delta in deltas.items() if delta})


def balances_apply(deltas: dict[int, int]) -> dict[int, int]:
    """The second half: lock the accounts (primary-key order), refuse an overdraft of a
    protected account (`InsufficientFunds`, nothing applied), apply every change in one
    UPDATE. Returns {account id: new balance}."""
    if not deltas:
        return {}
    locked = accounts_lock(deltas)  # the last locks of the lock order (ledger/locks.py)
    for pk in sorted(deltas):
        kind, balance = locked[pk]
        if balance + deltas[pk] < 0 and kind not in NEGATIVE_ALLOWED:
            raise InsufficientFunds(Account.objects.select_related("token").get(pk=pk), -deltas[pk])
    with connection.cursor() as cursor:
        cursor.execute(UPDATE_BALANCES, [rows_json(sorted(deltas.items()))])
        return dict(cursor.fetchall())


@transaction.atomic
def transaction_reverse(*, original: Transaction, key: str, memo: str = "", actor=None) -> Transaction:
    """Undo a transaction by posting its mirror image (history is never edited). A
    transaction has at most one reversal: another key raises `AlreadyReversed`."""
    earlier = Transaction.objects.filter(reverses=original).exclude(idempotency_key=key).first()
    if earlier is not None:
        raise AlreadyReversed(original)
    legs = [Leg(entry.account, -entry.amount) for entry in original.entries.select_related("account__token")]
    return transaction_post(
        key=key,
        kind="reversal",
        legs=legs,
        memo=memo or f"Reversal of {original.idempotency_key}",
        actor=actor,
        reverses=original,
    )
