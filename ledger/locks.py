"""Row locks of the ledger, the project's lock order, and the bounded retry of a transaction
that loses a deadlock anyway.

**The lock order, everywhere** (each app's `locks.py` takes its own rows; this is the one
place the order is written):

    1. the work item: submission rows (pools.locks, primary-key order), or one claim, deposit,
       withdrawal or ambassador row;
    2. factory rows (pools.locks: primary-key order, `FOR NO KEY UPDATE` of the factory table
       only, never a joined token or user row);
    3. ledger accounts (`accounts_lock` below: primary-key order, `FOR NO KEY UPDATE`), inside
       `ledger.services.balances_apply`, the last statement before the caller's commit work.

Two rules make the order hold:

- **Lock only the table you mean.** `select_for_update()` with `select_related()` locks every
  joined row too. Claims, rate changes and closes once locked the factory *and its token row*
  `FOR UPDATE`: every request on any USDC factory queued on one token row, and with the
  settlement worker holding factory 1 and waiting for factory 2, a request holding factory 2
  waiting for the token row behind one holding it and waiting for factory 1 closed a cycle
  (issue 20 row 3; `tests/pools/test_mixed_load.py`). Each lock helper passes `of=("self",)`.
- **`FOR NO KEY UPDATE`, not `FOR UPDATE`**, for rows whose key never changes (factories,
  accounts): still exclusive among writers, but the `KEY SHARE` lock a foreign-key check takes
  (a new submission or claim pointing at its factory, an entry pointing at its account) does
  not wait for it.

PostgreSQL can still pick a victim when two transactions meet in ways no order covers (a
unique index wait, a lock escalation inside a multixact): `atomic_with_retry` runs the
outermost transaction again, whole, a few times with jitter, and past that answers
`TransactionBusy` (503 with `Retry-After`), never a 500.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, transaction

from .models import Account

logger = logging.getLogger(__name__)

# PostgreSQL aborts one side of a deadlock or a serialization conflict: the whole transaction
# can simply run again (its postings are keyed, so nothing is paid twice).
TRANSIENT_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
ATTEMPTS = 4
BACKOFF_SECONDS = 0.05
RETRY_AFTER_SECONDS = 2
T = TypeVar("T")


class TransactionBusy(Exception):
    """Every attempt lost a deadlock or a serialization conflict: nothing was written, and the
    same request may simply be sent again. Not an `ApplicationError` (nothing was refused), so
    no page or API view turns it into a form error: `forge.middleware.ServiceErrorPagesMiddleware`
    answers every request 503 with `Retry-After`."""

    message = "The service is busy right now and nothing was changed; please try again in a moment."

    def __init__(self):
        super().__init__(self.message)


def is_transient(error: BaseException) -> bool:
    """A deadlock victim or a serialization failure (worth running again, whole)."""
    return isinstance(error, OperationalError) and getattr(error.__cause__, "sqlstate", None) in TRANSIENT_SQLSTATES


def accounts_lock(ids) -> dict[int, tuple[str, int]]:
    """Lock ledger accounts (primary-key order, FOR NO KEY UPDATE: exclusive among postings,
    but a foreign-key check of another posting's new entry does not wait); {id: (kind,
    balance)}."""
    return {
        pk: (kind, balance)
        for pk, kind, balance in Account.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(ids))
        .order_by("pk")
        .values_list("pk", "kind", "balance")
    }


def run_with_retry(unit: Callable[[], T], *, attempts: int = ATTEMPTS, backoff: float = BACKOFF_SECONDS) -> T:
    """Run `unit()` in its own durable transaction, and again, whole, when PostgreSQL aborts
    it for a deadlock or a serialization failure; `TransactionBusy` once `attempts` are
    spent. Call it outside any transaction: a retry inside an outer transaction cannot
    recover (the outer one is aborted), so `atomic_with_retry` only retries when outermost."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic(durable=True):
                return unit()
        except OperationalError as error:
            if not is_transient(error):
                raise
            if attempt == attempts:
                logger.warning("transaction lost %d times (%s); answering busy", attempts, error.__cause__.sqlstate)
                raise TransactionBusy() from error
            logger.info("transaction lost a deadlock (attempt %d of %d); running it again", attempt, attempts)
        time.sleep(backoff * attempt * (1 + random.random()))
    raise AssertionError("unreachable")


def atomic_with_retry(function: Callable[..., T]) -> Callable[..., T]:
    """`@transaction.atomic` for a write use case that may be the outermost transaction (called
    by a view, a task or a command): outermost, it runs in a durable transaction retried
    whole on a deadlock (`run_with_retry`); called inside another transaction, it is a plain
    savepoint and the outermost caller's retry covers it."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():
                return function(*args, **kwargs)
        return run_with_retry(lambda: function(*args, **kwargs))

    return wrapper
