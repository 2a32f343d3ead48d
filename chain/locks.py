"""Row locks of the chain app, in one place. The lock order of the whole project is written
once, in `ledger/locks.py`; chain rows are work items (step 1 there), taken before any factory
or ledger account:

- the watcher: the EVM cursor (SKIP LOCKED: an overlapping run passes), then, one per
  transaction, a chain transfer, then the deposit intent it matches; the deposit service
  then locks the factory and the ledger accounts;
- a withdrawal request: the user's wallet (an unlink waits for the request), then the
  ledger accounts;
- a creator's cancel of a deposit intent, an unlink: that one row;
- the payout run (chain/services/runs.py, one per chain): first its lease row
  (`payout_run_lease`: one run at a time, across its many short transactions), taken, renewed
  and released each by one statement in a transaction of its own, so its row lock is never
  held together with another; then per transaction either the withdrawal (accounts.locks) before
  the new payout row is inserted, or a payout row (`evm_payout_lock`, `solana_payout_lock`),
  then its withdrawal; the ledger accounts last.

Every helper locks its own table only (`of=("self",)`): joined rows are read, never locked.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.db.models.functions import Now

from .models import ChainTransfer, DepositIntent, EvmCursor, EvmPayout, PayoutRunLease, SolanaPayout, Wallet

logger = logging.getLogger(__name__)

# A lease row's expiry when it is first written: long past, so the first run takes it.
NEVER_HELD = datetime(2000, 1, 1, tzinfo=UTC)


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


class LeaseLost(Exception):
    """The run's lease expired and another run took it: this run must stop at once."""


@dataclass(frozen=True)
class RunLease:
    """A payout run's hold on its lease row (`PayoutRunLease`): the row's name and this run's
    holder token."""

    name: str
    holder: str

    def renew(self) -> None:
        """Push the expiry FORGE_PAYOUT_RUN_LEASE_SECONDS past now (one statement, its own
        transaction); LeaseLost when another run holds the row now."""
        if not PayoutRunLease.objects.filter(name=self.name, holder=self.holder).update(expires_at=_lease_end()):
            raise LeaseLost(f"the {self.name} payout run lease was taken by another run")


@contextmanager
def payout_run_lease(name: str) -> Iterator[RunLease | None]:
    """Hold the payout run's lease row `name` (a RunLease) or learn that another run holds it
    (None); released at the end.

    Not an advisory lock: a session lock would outlive the transactions of a run, and behind a
    transaction-mode pooler (PgBouncer) its unlock may reach another server connection and
    release nothing. The lease is a row, taken by one compare-and-swap UPDATE (free when its
    expiry, on the database's clock, has passed, or when this holder has it) in a short
    transaction of its own, renewed between the run's steps (`RunLease.renew`) and released at
    the end. A run killed while holding it (SIGKILL, a lost machine) leaves it to expire by
    itself after FORGE_PAYOUT_RUN_LEASE_SECONDS."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"[-128:]
    with transaction.atomic(durable=True):
        PayoutRunLease.objects.bulk_create(
            [PayoutRunLease(name=name, expires_at=NEVER_HELD)], ignore_conflicts=True
        )  # the row of a kind never run before; nothing when it exists
        taken = (
            PayoutRunLease.objects.filter(name=name)
            .filter(Q(expires_at__lte=Now()) | Q(holder=holder))
            .update(holder=holder, acquired_at=Now(), expires_at=_lease_end())
        )
    if not taken:
        yield None
        return
    lease = RunLease(name=name, holder=holder)
    try:
        yield lease
    finally:
        try:
            PayoutRunLease.objects.filter(name=name, holder=holder).update(holder="", expires_at=Now())
        except DatabaseError:  # the run failed with the database; the lease expires by itself
            logger.exception("the %s payout run lease was not released; it expires by itself", name)


def _lease_end():
    return Now() + timedelta(seconds=settings.FORGE_PAYOUT_RUN_LEASE_SECONDS)


def evm_payout_lock(payout_id: int) -> EvmPayout:
    """One payout row, locked."""
    return EvmPayout.objects.select_for_update(of=("self",)).get(pk=payout_id)


def solana_payout_lock(payout_id: int) -> SolanaPayout:
    """One Solana payout row, locked."""
    return SolanaPayout.objects.select_for_update(of=("self",)).get(pk=payout_id)
