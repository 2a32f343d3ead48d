"""The payout run's skeleton, one for every chain (EVM: chain/services/payouts.py, Solana:
chain/services/solana_payouts.py): take the chain's lease, track the live transactions (confirm
or declare dead, re-send the ones in doubt), sign the next batch, send what was just signed,
release the lease. Each chain brings its three steps; the lease is taken here, once.

The lease (chain.locks.payout_run_lease) is a row, not a session lock, so a run behaves the
same through a transaction-mode pooler. It is renewed between the steps and before each send.
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

from ..locks import LeaseLost, payout_run_lease

logger = logging.getLogger(__name__)


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


def payout_run(
    *,
    lease: str,
    report: Report,
    track: Callable[[], None],
    sign: Callable[[], Iterable[int]],
    send: Callable[[int], None],
) -> Report:
    """One payout run under the lease named `lease`: `track()`, then `send(id)` for each payout
    row `sign()` stored (see the module docstring)."""
    with payout_run_lease(lease) as held:
        if held is None:
            report.busy = True
            return report
        try:
            track()
            held.renew()
            for payout_id in sign():
                held.renew()
                send(payout_id)
        except LeaseLost:
            report.lease_lost = True
            logger.warning("the %s payout run lost its lease to another run and stopped", lease)
    return report
