"""Crediting a settled chain transfer: the one path both watchers (EVM, Solana) take once a
transfer is deep enough (confirmations, `finalized`) and matched to a deposit intent.

The caller holds the transfer's row lock (`chain_transfer_lock`, inside its durable
transaction) and has found, by its chain's own reference rules, the intent the transfer
names, or the reason it names none. `intent_credit` then takes the intent's row lock (the
order of `ledger/locks.py`: chain transfer, then its deposit intent, then the deposit
service's factory and ledger accounts) and decides again *under that lock* what every chain
shares: the intent is still open, of the transfer's token, for exactly its amount. A second
transfer that read the same intent as open before the first one committed therefore finds it
credited and is kept for staff; nothing is credited twice. The deposit's `tx_ref` is
`<tx>:<index>`, unique per token in `pools`, so a (chain, transaction, transfer index) is
credited at most once even by hand.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from core.money import format_amount
from pools.models import Deposit
from pools.services.deposits import deposit_confirm, deposit_create

from ..locks import deposit_intent_lock
from ..models import ChainTransfer, DepositIntent
from .links import deposit_links_record

logger = logging.getLogger(__name__)


def intent_credit(*, transfer: ChainTransfer, intent_id: int | None, reason: str = "") -> str:
    """Credit the locked, pending `transfer` to intent `intent_id` through the pools deposit
    service (confirmed, audited there), or mark it `unmatched` with `reason` (or the reason the
    intent refuses it) for staff. Returns the transfer's new status. Runs inside the caller's
    transaction."""
    intent = None
    if intent_id is not None and not reason:
        # Its own row only: a `select_related` token locked FOR UPDATE would queue every
        # settlement in that token (ledger/locks.py, "Lock only the table you mean").
        intent = deposit_intent_lock(intent_id, related=("token",))
        reason = _refusal(transfer, intent)
    if intent is not None and not reason:
        try:
            deposit = _deposit(transfer, intent)
        except (ApplicationError, ValidationError) as error:
            reason = getattr(error, "message", None) or "; ".join(getattr(error, "messages", [str(error)]))
        else:
            intent.status, intent.deposit = DepositIntent.Status.CREDITED, deposit
            intent.save(update_fields=["status", "deposit"])
            transfer.status, transfer.intent, transfer.deposit = ChainTransfer.Status.CREDITED, intent, deposit
            transfer.reason, transfer.settled_at = "", timezone.now()
            transfer.save(update_fields=["status", "intent", "deposit", "reason", "settled_at"])
            deposit_links_record(transfer=transfer, intent=intent)
            logger.info("%s transfer %s credited as deposit %s", transfer.chain, transfer, deposit.pk)
            return transfer.status
    transfer.status, transfer.reason, transfer.settled_at = ChainTransfer.Status.UNMATCHED, reason[:255], timezone.now()
    transfer.save(update_fields=["status", "reason", "settled_at"])
    logger.warning("%s transfer %s not credited: %s", transfer.chain, transfer, reason)
    return transfer.status


def _refusal(transfer: ChainTransfer, intent: DepositIntent | None) -> str:
    """Why the locked intent cannot take this transfer, or "" (the rules common to every chain)."""
    if intent is None:
        return "its deposit request no longer exists"
    if transfer.token_id is None or transfer.token_id != intent.token_id:
        return f"wrong token: {transfer.contract_address or 'the native coin'} is not {intent.token.symbol}"
    if intent.status != DepositIntent.Status.OPEN:
        return f"deposit request {intent.pk} is {intent.status}"
    if int(transfer.amount) != int(intent.amount):
        paid = format_amount(int(transfer.amount), decimals=intent.token.decimals, trim=True)
        asked = format_amount(int(intent.amount), decimals=intent.token.decimals, trim=True)
        return f"paid {paid} {intent.token.symbol}, the request is for exactly {asked}"
    return ""


def _deposit(transfer: ChainTransfer, intent: DepositIntent) -> Deposit:
    """The confirmed deposit for this transfer; rolled back alone (savepoint) when refused."""
    with transaction.atomic():
        deposit = deposit_create(
            factory=intent.factory,
            actor=intent.creator,
            amount=format_amount(int(transfer.amount), decimals=intent.token.decimals),
            tx_ref=f"{transfer.tx_hash}:{transfer.log_index}",
        )
        if deposit.status == Deposit.Status.PENDING:
            deposit = deposit_confirm(deposit=deposit, actor=None)
    return deposit
