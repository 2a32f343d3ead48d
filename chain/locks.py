"""Row locks of the chain app, in one place. The lock order of the whole project is written
once, in `ledger/locks.py`; chain rows are work items (step 1 there), taken before any factory
or ledger account:

- the watcher: the EVM cursor (SKIP LOCKED: an overlapping run passes), then, one per
  transaction, a chain transfer, then the deposit intent it matches; the deposit service
  then locks the factory and the ledger accounts;
- a withdrawal request: the user's wallet (an unlink waits for the request), then the
  ledger accounts;
- a creator's cancel of a deposit intent, an unlink: that one row.

Every helper locks its own table only (`of=("self",)`): joined rows are read, never locked.
"""

from __future__ import annotations

from .models import ChainTransfer, DepositIntent, EvmCursor, Wallet


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


def deposit_intent_lock(intent_id: int, *, creator=None) -> DepositIntent | None:
    """One deposit intent (of `creator` when given), locked, or None."""
    rows = DepositIntent.objects.select_for_update(of=("self",)).filter(pk=intent_id)
    if creator is not None:
        rows = rows.filter(creator=creator)
    return rows.first()


def evm_cursor_lock(name: str) -> EvmCursor | None:
    """The watcher's cursor, locked for this run, or None when another run holds it."""
    return EvmCursor.objects.select_for_update(skip_locked=True).filter(name=name).first()


def chain_transfer_lock(transfer_id: int) -> ChainTransfer:
    """One chain transfer, locked."""
    return ChainTransfer.objects.select_for_update(of=("self",)).get(pk=transfer_id)
