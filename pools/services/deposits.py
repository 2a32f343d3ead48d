"""Funding a pool. A deposit is credited to the pool's available balance once, when
confirmed; its chain reference (`tx_ref`) is credited at most once per token."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import StaffAction
from audit.services import staff_action_record
from core.db import atomic_with_retry
from core.exceptions import Conflict, Forbidden
from core.money import format_amount, parse_amount
from ledger.models import Account
from ledger.services import Leg, account_get, transaction_post, world_deposits_account

from ..locks import deposit_lock, factory_lock
from ..models import Deposit, Factory
from .factories import pool_return_to_creator

TX_REF_MAX = 128


def _clean_tx_ref(tx_ref) -> str:
    text = str(tx_ref or "").strip()
    if not text:
        raise ValidationError({"tx_ref": ["The chain transaction reference is required."]})
    if len(text) > TX_REF_MAX or not text.isprintable() or " " in text:
        raise ValidationError(
            {"tx_ref": [f"A transaction reference is at most {TX_REF_MAX} characters, without spaces."]}
        )
    return text


@atomic_with_retry
def deposit_create(*, factory: Factory, actor, amount, tx_ref) -> Deposit:
    """Record a deposit; confirm it at once when FORGE_DEPOSITS_AUTOCONFIRM is on."""
    if factory.creator_id != actor.pk:
        raise Forbidden("Only the factory's creator can fund it.")
    # The current status, not the caller's copy: a factory closed meanwhile takes no money.
    # The row lock also queues concurrent deposits to one factory behind each other.
    factory = factory_lock(factory.pk)
    if factory.status == Factory.Status.CLOSED:
        raise Conflict("This factory is closed and cannot be funded.")
    if not factory.token.enabled:
        raise ValidationError({"token": [f"{factory.token.symbol} is disabled: deposits are paused for it."]})
    units = parse_amount(amount, decimals=factory.token.decimals)
    tx_ref = _clean_tx_ref(tx_ref)
    if Deposit.objects.filter(token=factory.token, tx_ref=tx_ref).exists():
        raise Conflict(f"Transaction {tx_ref} was already credited for {factory.token.symbol}.")
    try:
        with transaction.atomic():
            deposit = Deposit.objects.create(
                factory=factory, token=factory.token, amount=units, tx_ref=tx_ref, created_by=actor
            )
    except IntegrityError:  # a concurrent request recorded the same reference first
        raise Conflict(f"Transaction {tx_ref} was already credited for {factory.token.symbol}.") from None
    if settings.FORGE_DEPOSITS_AUTOCONFIRM:
        deposit = deposit_confirm(deposit=deposit, actor=None)
    return deposit


@atomic_with_retry
def deposit_confirm(*, deposit: Deposit, actor) -> Deposit:
    """Credit a pending deposit to its pool (idempotent: confirming twice credits once)."""
    # The factory row first, then the deposit under it (pools/locks.py).
    factory = factory_lock(deposit.factory_id, related=())
    deposit = deposit_lock(deposit.pk)
    if deposit.status == Deposit.Status.CONFIRMED:
        return deposit
    if deposit.status == Deposit.Status.REJECTED:
        raise Conflict("A rejected deposit cannot be confirmed.")
    txn = transaction_post(
        key=f"deposit:{deposit.pk}",
        kind="deposit",
        legs=[
            Leg(world_deposits_account(deposit.token), -deposit.amount),
            Leg(Account.objects.get(pk=factory.available_account_id), deposit.amount),
        ],
        memo=f"Deposit {deposit.tx_ref} to factory {factory.pk}",
        actor=actor,
    )
    deposit.status = Deposit.Status.CONFIRMED
    deposit.confirmed_by = actor
    deposit.confirmed_at = timezone.now()
    deposit.ledger_transaction = txn
    deposit.save(update_fields=["status", "confirmed_by", "confirmed_at", "ledger_transaction"])
    if actor is not None:  # staff or the payment service (automatic confirmation has no actor)
        staff_action_record(
            actor=actor,
            action=StaffAction.Action.DEPOSIT_CONFIRM,
            obj=deposit,
            before=_deposit_state(deposit, status=Deposit.Status.PENDING),
            after=_deposit_state(deposit) | {"ledger_transaction": txn.pk},
        )
    # Data collection starts as soon as the pool is funded.
    if factory.status == Factory.Status.DRAFT:
        factory.status = Factory.Status.ACTIVE
        factory.save(update_fields=["status"])
    pool_return_to_creator(factory=factory, reason=f"deposit:{deposit.pk}")
    return deposit


@atomic_with_retry
def deposit_reject(*, deposit: Deposit, actor) -> Deposit:
    updated = Deposit.objects.filter(pk=deposit.pk, status=Deposit.Status.PENDING).update(
        status=Deposit.Status.REJECTED, confirmed_by=actor, confirmed_at=timezone.now()
    )
    deposit.refresh_from_db()
    if not updated and deposit.status != Deposit.Status.REJECTED:
        raise Conflict("Only a pending deposit can be rejected.")
    if updated and actor is not None:
        staff_action_record(
            actor=actor,
            action=StaffAction.Action.DEPOSIT_REJECT,
            obj=deposit,
            before=_deposit_state(deposit, status=Deposit.Status.PENDING),
            after=_deposit_state(deposit),
        )
    return deposit


def _deposit_state(deposit: Deposit, *, status: str | None = None) -> dict:
    """What the audit trail keeps of a deposit (`status` replaces the current one)."""
    return {
        "status": status or deposit.status,
        "factory": deposit.factory_id,
        "token": deposit.token.symbol,
        "amount": format_amount(deposit.amount, decimals=deposit.token.decimals),
        "tx_ref": deposit.tx_ref,
    }


REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@atomic_with_retry
def factory_fund_from_balance(*, factory: Factory, actor, amount, request_id: str) -> Deposit:
    """A creator funds one of their factories from their own balance (a closed factory's
    refund, say) instead of from the chain: a deposit confirmed at once whose ledger
    transaction moves the creator's balance into the pool (`deposit:<id>`, kind
    `deposit_from_balance`). Once per `request_id` (the client's idempotency key, 8 to 64 of
    A-Z a-z 0-9 _ -): a repeat with the same amount and factory returns the first deposit."""
    if factory.creator_id != actor.pk:
        raise Forbidden("Only the factory's creator can fund it.")
    request_id = str(request_id or "").strip()
    if not REQUEST_ID_RE.match(request_id):
        raise ValidationError({"request_id": ["A request id of 8 to 64 letters, digits, - or _ is required."]})
    factory = factory_lock(factory.pk)
    units = parse_amount(amount, decimals=factory.token.decimals)
    tx_ref = f"balance:{actor.pk}:{request_id}"
    existing = Deposit.objects.filter(token=factory.token, tx_ref=tx_ref).first()
    if existing is not None:
        if existing.factory_id != factory.pk or existing.amount != units:
            raise Conflict("This request id was already used for another amount or factory.")
        return existing
    if factory.status == Factory.Status.CLOSED:
        raise Conflict("This factory is closed and cannot be funded.")
    if not factory.token.enabled:
        raise ValidationError({"token": [f"{factory.token.symbol} is disabled: deposits are paused for it."]})
    now = timezone.now()
    try:
        with transaction.atomic():  # a savepoint: the same request id racing for another factory
            deposit = Deposit.objects.create(
                factory=factory,
                token=factory.token,
                amount=units,
                tx_ref=tx_ref,
                created_by=actor,
                status=Deposit.Status.CONFIRMED,
                confirmed_at=now,
            )
    except IntegrityError:
        # Another factory's lock let a concurrent request with this id insert first.
        raise Conflict("This request id was already used for another amount or factory.") from None
    creator_balance = account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{actor.pk}", token=factory.token)
    deposit.ledger_transaction = transaction_post(
        key=f"deposit:{deposit.pk}",
        kind="deposit_from_balance",
        legs=[
            Leg(creator_balance, -units),
            Leg(Account.objects.get(pk=factory.available_account_id), units),
        ],
        memo=f"Factory {factory.pk} funded from its creator's balance",
        actor=actor,
    )
    deposit.save(update_fields=["ledger_transaction"])
    if factory.status == Factory.Status.DRAFT:
        factory.status = Factory.Status.ACTIVE
        factory.save(update_fields=["status"])
    return deposit
