"""Row locks of the chain app, in one place. The lock order of the whole project is written
once, in `ledger/locks.py`; chain rows are work items (step 1 there), taken before any factory
or ledger account:

- the watcher: the EVM cursor (SKIP LOCKED: an overlapping run passes), then, one per
  transaction, a chain transfer, then the deposit intent it matches; the deposit service
  then locks the factory and the ledger accounts;
- a withdrawal request: the user's wallet (an unlink waits for the request), then the
  ledger accounts;
- a creator's cancel of a deposit intent, an unlink: that one row;
- the payout run (chain/services/payouts.py): first a session advisory lock for the whole run
  (`evm_payouts_lock`: one run at a time, across its many short transactions), then per
  transaction either the withdrawal (accounts.locks) before the new payout row is inserted, or
  a payout row (`evm_payout_lock`), then its withdrawal; the ledger accounts last.

Every helper locks its own table only (`of=("self",)`): joined rows are read, never locked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from .models import ChainTransfer, DepositIntent, EvmCursor, EvmPayout, SolanaPayout, Wallet

# Namespace of the payout run's advisory lock (no other advisory lock uses it).
EVM_PAYOUTS_LOCK = (0x464F5247, 1)  # "FORG", payouts on EVM
SOLANA_PAYOUTS_LOCK = (0x464F5247, 2)  # "FORG", payouts on Solana


def wallet_lock(*, wallet_id: int, user) -> Wallet | None:
    """One of `user`'s wallets (linked or not), locked, or None."""
    return Wallet.objects.select_for_update(of=("self",)).filter(pk=wallet_id, user=user).first()


def wallet_lock_active(*, user, chain: str, address: str) -> Wallet | None:
    """`user`'s active link of `address` on `chain`, locked until the end of the caller's
    transaction (an unlink waits), or None."""
    return (
        Wallet.objects.select_for_update(of=("self",))
        .filter(user=user, chain=chain, address=address, unlinked_at__isnull=True)
        .first()
    )


def deposit_intent_lock(intent_id: int, *, creator=None, related=()) -> DepositIntent | None:
    """One deposit intent (of `creator` when given), locked (its `related` rows read, not
    locked), or None."""
    rows = DepositIntent.objects.select_for_update(of=("self",)).select_related(*related).filter(pk=intent_id)
    if creator is not None:
        rows = rows.filter(creator=creator)
    return rows.first()


def evm_cursor_lock(name: str) -> EvmCursor | None:
    """The watcher's cursor, locked for this run, or None when another run holds it."""
    return EvmCursor.objects.select_for_update(skip_locked=True).filter(name=name).first()


def chain_transfer_lock(transfer_id: int, *, related=()) -> ChainTransfer:
    """One chain transfer, locked (its `related` rows read, not locked)."""
    return ChainTransfer.objects.select_for_update(of=("self",)).select_related(*related).get(pk=transfer_id)


@contextmanager
def evm_payouts_lock() -> Iterator[bool]:
    with _run_lock(EVM_PAYOUTS_LOCK) as held:
        yield held


@contextmanager
def solana_payouts_lock() -> Iterator[bool]:
    """The Solana payout run's advisory lock (same rules as `evm_payouts_lock`)."""
    with _run_lock(SOLANA_PAYOUTS_LOCK) as held:
        yield held


@contextmanager
def _run_lock(key: tuple[int, int]) -> Iterator[bool]:
    """Hold the payout run's session advisory lock (True) or learn another run holds it
    (False). Session-level, not transaction-level: the run commits many short transactions
    (each signed transaction is stored before it is broadcast). PostgreSQL releases it when the
    connection ends, so a killed process never leaves it behind."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", list(key))
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", list(key))


def evm_payout_lock(payout_id: int) -> EvmPayout:
    """One payout row, locked."""
    return EvmPayout.objects.select_for_update(of=("self",)).get(pk=payout_id)


def solana_payout_lock(payout_id: int) -> SolanaPayout:
    """One Solana payout row, locked."""
    return SolanaPayout.objects.select_for_update(of=("self",)).get(pk=payout_id)
