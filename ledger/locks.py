"""Row locks of the ledger, and the project's lock order, written once.

**The lock order, everywhere** (each app's `locks.py` takes its own rows; this is the one
place the order is written):

    0. (a withdrawal request only) its user's transaction advisory lock (accounts.locks), so the
       daily limit is read and added to atomically; the payout run's lease row (chain.locks)
       spans its many short transactions; its row is locked only by the single statements
       that take, renew and release it, each a transaction of its own, never together with a
       lock of this list;
    1. the work item: submission rows (pools.locks, primary-key order), or one claim, deposit,
       withdrawal or ambassador row; chain rows (chain.locks: the watcher's cursor, then a
       chain transfer, then its deposit intent; or the wallet a withdrawal request pays to; or a
       payout row, then its withdrawal);
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
unique index wait, a lock escalation inside a multixact): `core.db.atomic_with_retry` runs the
outermost transaction again, whole, a few times with jitter, and past that raises
`TransactionBusy`, answered 503 with `Retry-After` (`core.middleware`), never a 500.
"""

from __future__ import annotations

from .models import Account


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
