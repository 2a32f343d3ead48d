"""The payout run's skeleton, one for every chain (EVM: chain/services/payouts.py, Solana:
chain/services/solana_payouts.py): take the chain's lease, track the live transactions (confirm
or declare dead, re-send the ones in doubt), sign the next batch, send what was just signed,
release the lease. Each chain brings its three steps; the lease is taken here, once.

The lease (chain.locks.payout_run_lease) is a row, not a session lock, so a run behaves the
same through a transaction-mode pooler. It is renewed between the steps, before each send, and
by the steps themselves before each transaction they track or sign (`renew`, passed to them):
one slow node call can then outlast the lease only if it outlasts FORGE_PAYOUT_RUN_LEASE_SECONDS,
which is at least the payout tasks' hard time limit (PAYOUT_TASK_TIME_LIMIT, checked at start).
A run that finds the lease held does nothing and reports `busy`; a run that finds, at a
renewal, that its lease expired and another run took it stops there and reports
`lease_lost`: every step commits its own transactions and leaves nothing half done (a signed
row not yet sent is in doubt, and the next run re-sends it as is), and the payout rows'
constraints refuse a second transaction for a withdrawal even while two runs overlap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ..locks import LeaseLost, payout_run_lease

logger = logging.getLogger(__name__)

# The payout tasks' hard time limit in seconds (chain/tasks.py): no run lives longer, so a lease
# of at least this long (FORGE_PAYOUT_RUN_LEASE_SECONDS) never expires under a live run.
PAYOUT_TASK_TIME_LIMIT = 300


def payout_lease_check() -> None:
    """Payouts on with a lease shorter than the payout tasks' time limit: refuse to start (a live
    run could lose its lease to a second one between two renewals). Called from the app's ready()."""
    payouts_on = settings.FORGE_EVM_PAYOUTS_ENABLED or settings.FORGE_SOLANA_PAYOUTS_ENABLED
    if payouts_on and settings.FORGE_PAYOUT_RUN_LEASE_SECONDS < PAYOUT_TASK_TIME_LIMIT:
        raise ImproperlyConfigured(
            f"FORGE_PAYOUT_RUN_LEASE_SECONDS must be at least the payout tasks' time limit "
            f"({PAYOUT_TASK_TIME_LIMIT} s) while payouts are on, not {settings.FORGE_PAYOUT_RUN_LEASE_SECONDS}."
        )


@dataclass
class RunReport:
    """What every payout run reports; each chain adds its counters."""

    busy: bool = False  # another run held the lease: this one did nothing
    lease_lost: bool = False  # the lease expired mid-run and another run took it: this one stopped
    confirmed: int = 0
    failed: int = 0
    dead: int = 0
    signed: int = 0
    waiting: list[str] = field(default_factory=list)  # why pending withdrawals were not signed


Report = TypeVar("Report", bound=RunReport)


def no_lease() -> None:
    """`renew` for a step called outside a run (its tests, a shell): there is no lease to keep."""


def payout_run(
    *,
    lease: str,
    report: Report,
    track: Callable[[Callable[[], None]], None],
    sign: Callable[[Callable[[], None]], Iterable[int]],
    send: Callable[[int], None],
) -> Report:
    """One payout run under the lease named `lease`: `track(renew)`, then `send(id)` for each
    payout row `sign(renew)` stored (see the module docstring). The steps call `renew()` before
    each transaction they handle; it raises LeaseLost when another run took the lease."""
    with payout_run_lease(lease) as held:
        if held is None:
            report.busy = True
            return report
        try:
            track(held.renew)
            held.renew()
            for payout_id in sign(held.renew):
                held.renew()
                send(payout_id)
        except LeaseLost:
            report.lease_lost = True
            logger.warning("the %s payout run lost its lease to another run and stopped", lease)
    return report
