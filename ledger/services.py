"""Posting to the ledger. `transaction_post` is the only code that writes ledger rows.

Rules it enforces (docs/ledger.md):
- every leg is a non-zero integer amount in base units; legs sum to zero per token;
- accounts are locked in primary-key order (no deadlocks between postings);
- protected accounts never go negative (checked here for a clear error, and by a CHECK);
- one transaction per idempotency key: the same key with the same legs returns the first
  transaction; the same key with different legs raises `IdempotencyConflict`;
- a transaction is reversed at most once (`AlreadyReversed`).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db import IntegrityError, OperationalError, transaction

from core.exceptions import ApplicationError, Conflict

from .models import Account, Entry, Token, Transaction

NEGATIVE_ALLOWED = {Account.Kind.WORLD_DEPOSITS}
# PostgreSQL aborts one side of a deadlock or a serialization conflict: the whole unit of
# work can simply run again (its postings are keyed, so nothing is paid twice).
TRANSIENT_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
T = TypeVar("T")


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


def _existing(key: str, fingerprint: str) -> Transaction:
    existing = Transaction.objects.get(idempotency_key=key)
    if existing.fingerprint != fingerprint:
        raise IdempotencyConflict(key)
    return existing


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
    """Post a balanced transaction once per `key`; see the module docstring."""
    _check_names(key, kind)
    merged = _normalise(legs)
    fingerprint = _fingerprint(kind, merged, reverses)

    if Transaction.objects.filter(idempotency_key=key).exists():
        return _existing(key, fingerprint)
    try:
        with transaction.atomic():
            txn = Transaction.objects.create(
                idempotency_key=key,
                kind=kind,
                fingerprint=fingerprint,
                memo=memo[:255],
                actor=actor,
                reverses=reverses,
            )
    except IntegrityError:
        # Another posting with this key committed first (the insert waited for it), or,
        # the only other unique column, `reverses` already has its reversal.
        if reverses is not None and not Transaction.objects.filter(idempotency_key=key).exists():
            raise AlreadyReversed(reverses) from None
        return _existing(key, fingerprint)

    ids = [account.pk for account, _ in merged]
    # FOR NO KEY UPDATE: exclusive among postings, but foreign-key checks of rows pointing at
    # an account (new entries of another posting) do not wait for it.
    locked = {
        a.pk: a
        for a in Account.objects.select_for_update(no_key=True)
        .select_related("token")
        .filter(pk__in=ids)
        .order_by("pk")
    }
    for account, amount in merged:
        current = locked[account.pk]
        new_balance = current.balance + amount
        if new_balance < 0 and current.kind not in NEGATIVE_ALLOWED:
            raise InsufficientFunds(current, -amount)
        current.balance = new_balance
    Account.objects.bulk_update([locked[pk] for pk in ids], ["balance"])
    Entry.objects.bulk_create(
        Entry(transaction=txn, account_id=account.pk, token_id=account.token_id, amount=amount)
        for account, amount in merged
    )
    # Keep the caller's objects in step with what was written.
    for account, _ in merged:
        account.balance = locked[account.pk].balance
    return txn


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


def posting_retry(unit: Callable[[], T], *, attempts: int = 3, backoff: float = 0.05) -> T:
    """Run `unit()` in its own (durable) transaction, and again, whole, when PostgreSQL aborts
    it for a deadlock or a serialization failure. `transaction_post` locks accounts in
    primary-key order, so postings alone never deadlock; a caller that first locks its own rows
    (a factory, a submission) in another order than a concurrent caller can, and this is how it
    recovers. The unit re-runs with the same idempotency keys, so a retry never pays twice.
    Call it outside any transaction (a retry inside an outer transaction cannot recover)."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic(durable=True):
                return unit()
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) not in TRANSIENT_SQLSTATES or attempt == attempts:
                raise
        time.sleep(backoff * attempt * (1 + random.random()))
    raise AssertionError("unreachable")
