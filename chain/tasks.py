"""Celery entry points of the chain app: load settings, call one service, nothing more."""

import logging

from celery import shared_task
from django.conf import settings

from .services.deposits import evm_watch
from .services.payouts import evm_payouts_run
from .services.runs import PAYOUT_TASK_TIME_LIMIT
from .services.solana import solana_watch
from .services.solana_payouts import solana_payouts_run

logger = logging.getLogger(__name__)

# The payout tasks: money, acknowledged late; their hard time limit is the one the run lease
# is checked against at start (chain/services/runs.py).
PAYOUT_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "time_limit": PAYOUT_TASK_TIME_LIMIT,
    "soft_time_limit": PAYOUT_TASK_TIME_LIMIT - 60,
}


@shared_task(name="chain.evm_watch", acks_late=True, reject_on_worker_lost=True, time_limit=300, soft_time_limit=240)
def evm_watch_task() -> dict | None:
    """One watcher run (beat, every 15 s). Off while FORGE_EVM_RPC_URL is empty (the demo's
    simulated chain). Idempotent: the cursor lock and the (chain, tx, index) key make a
    repeated or overlapping run harmless."""
    if not settings.FORGE_EVM_RPC_URL or not settings.FORGE_EVM_TREASURY_ADDRESS:
        return None
    report = evm_watch()
    logger.info("evm watch: %s", report)
    return report.__dict__


@shared_task(name="chain.evm_payouts", **PAYOUT_TASK_OPTIONS)
def evm_payouts_task() -> dict | None:
    """One payout run (beat, every 15 s): track, sign, broadcast (chain/services/payouts.py).
    Off unless FORGE_EVM_PAYOUTS_ENABLED and FORGE_EVM_RPC_URL. Idempotent: the run's lease (one
    run at a time), one row per nonce and one live row per withdrawal make a repeated run harmless."""
    if not settings.FORGE_EVM_PAYOUTS_ENABLED or not settings.FORGE_EVM_RPC_URL:
        return None
    report = evm_payouts_run()
    logger.info("evm payouts: %s", report)
    return report.__dict__


@shared_task(name="chain.solana_watch", acks_late=True, reject_on_worker_lost=True, time_limit=300, soft_time_limit=240)
def solana_watch_task() -> dict | None:
    """One Solana watcher run (beat, every 20 s). Off while FORGE_SOLANA_RPC_URL is empty.
    Idempotent: cursors move only over finalized signatures and (chain, signature, index)
    stores each transfer once."""
    if not settings.FORGE_SOLANA_RPC_URL or not settings.FORGE_SOLANA_TREASURY_ADDRESS:
        return None
    report = solana_watch()
    logger.info("solana watch: %s", report)
    return report.__dict__


@shared_task(name="chain.solana_payouts", **PAYOUT_TASK_OPTIONS)
def solana_payouts_task() -> dict | None:
    """One Solana payout run (beat, every 20 s): track, sign, send (chain/services/
    solana_payouts.py). Off unless FORGE_SOLANA_PAYOUTS_ENABLED and FORGE_SOLANA_RPC_URL.
    Idempotent: the run's lease (one run at a time) and one live row per withdrawal make a repeated run
    harmless; a stored transaction is re-sent as is."""
    if not settings.FORGE_SOLANA_PAYOUTS_ENABLED or not settings.FORGE_SOLANA_RPC_URL:
        return None
    report = solana_payouts_run()
    logger.info("solana payouts: %s", report)
    return report.__dict__
