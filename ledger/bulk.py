"""Posting many transactions at once, set-based: the batch twin of `transaction_post`.

Same rules, same guarantees (balanced per token, idempotency keys, protected balances never
negative, accounts locked in primary-key order, append-only rows, the PostgreSQL triggers),
but a batch of N transactions costs a handful of statements instead of ~5N:

    1 SELECT  existing idempotency keys
    1 INSERT  the new transactions (RETURNING ids)
    1 SELECT  ... FOR UPDATE  every account touched, in primary-key order
    1 UPDATE  ledger_account ... FROM (VALUES ...)  one delta per account
    1 INSERT  every entry

It is all-or-nothing: if one posting would overdraw a protected account, nothing is written
and `InsufficientFunds` is raised; callers that want partial progress retry the items one by
one with `transaction_post`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F

from .models import Account, Entry, Transaction
from .services import NEGATIVE_ALLOWED, IdempotencyConflict, InsufficientFunds, Leg, _fingerprint, _normalise


@dataclass(frozen=True, slots=True)
class Posting:
    key: str
    kind: str
    legs: Sequence[Leg]
    memo: str = ""


def accounts_get_many(specs: Sequence[tuple[str, str, int]]) -> dict[tuple[str, str, int], Account]:
    """{(kind, holder, token_id): Account} for every spec, creating the missing ones in bulk."""
    wanted = set(specs)
    if not wanted:
        return {}
    holders = {holder for _, holder, _ in wanted}

    def load() -> dict[tuple[str, str, int], Account]:
        found = Account.objects.filter(holder__in=holders).select_related("token")
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


def _apply_deltas(deltas: dict[int, int]) -> None:
    """One UPDATE for every account's balance change."""
    if not deltas:
        return
    if connection.vendor != "postgresql":  # the zero-setup SQLite demo: one statement per account
        for pk, delta in deltas.items():
            Account.objects.filter(pk=pk).update(balance=F("balance") + delta)
        return
    rows = ", ".join(["(%s::bigint, %s::numeric)"] * len(deltas))
    params = [value for pk, delta in sorted(deltas.items()) for value in (pk, delta)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE ledger_account AS a SET balance = a.balance + v.delta "  # noqa: S608 - only placeholders
            f"FROM (VALUES {rows}) AS v(id, delta) WHERE a.id = v.id",
            params,
        )


@transaction.atomic
def transactions_post_many(postings: Sequence[Posting]) -> dict[str, Transaction]:
    """Post every posting once per key; returns {key: Transaction} (existing ones included)."""
    prepared = []
    for posting in postings:
        merged = _normalise(posting.legs)
        prepared.append((posting, merged, _fingerprint(posting.kind, merged)))

    keys = [posting.key for posting, _, _ in prepared]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate idempotency keys in one batch")
    existing = {t.idempotency_key: t for t in Transaction.objects.filter(idempotency_key__in=keys)}
    for posting, _, fingerprint in prepared:
        if posting.key in existing and existing[posting.key].fingerprint != fingerprint:
            raise IdempotencyConflict(posting.key)
    fresh = [item for item in prepared if item[0].key not in existing]
    if not fresh:
        return existing

    deltas: dict[int, int] = defaultdict(int)
    for _, merged, _ in fresh:
        for account, amount in merged:
            deltas[account.pk] += amount
    locked = {
        a.pk: a
        for a in Account.objects.select_for_update().select_related("token").filter(pk__in=deltas).order_by("pk")
    }
    for pk, delta in deltas.items():
        account = locked[pk]
        if account.balance + delta < 0 and account.kind not in NEGATIVE_ALLOWED:
            raise InsufficientFunds(account, -delta)

    created = Transaction.objects.bulk_create(
        [
            Transaction(
                idempotency_key=posting.key, kind=posting.kind, fingerprint=fingerprint, memo=posting.memo[:255]
            )
            for posting, _, fingerprint in fresh
        ]
    )
    _apply_deltas(deltas)
    Entry.objects.bulk_create(
        [
            Entry(transaction=txn, account_id=account.pk, token_id=account.token_id, amount=amount)
            for txn, (_, merged, _) in zip(created, fresh, strict=True)
            for account, amount in merged
        ],
        batch_size=5000,
    )
    result = dict(existing)
    result.update({txn.idempotency_key: txn for txn in created})
    return result
