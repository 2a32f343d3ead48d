"""Writes for accounts: registration, API tokens, and withdrawals of a user's balance."""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from rest_framework.authtoken.models import Token as ApiToken

from audit.models import StaffAction
from audit.services import staff_action_record
from core.exceptions import Conflict, Forbidden
from core.money import format_amount, parse_amount
from ledger.models import Account, Token
from ledger.services import Leg, account_get, transaction_post, world_withdrawals_account
from notifications.models import Kind
from notifications.services import notify

from .links import account_link_record
from .locks import withdrawal_lock, withdrawal_requests_lock
from .models import AccountLink, User, Withdrawal
from .selectors import withdrawal_limits, withdrawals_total_since
from .usernames import username_problems, username_skeleton

USERNAME_RE = re.compile(r"^[\w.@+-]{3,150}$")
LOOKS_TAKEN = "This username is taken, or looks like one that is (e.g. a Cyrillic letter or 1/l/I swapped)."
SOLANA_ADDRESS_RE = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")  # base58, 32-byte keys
EVM_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


def username_lookalike_exists(username: str, *, exclude_pk: int | None = None) -> bool:
    """Whether another user's name looks like `username` (same skeleton: accounts/usernames.py)."""
    return User.objects.filter(username_skeleton=username_skeleton(username)).exclude(pk=exclude_pk).exists()


def user_account(user, kind: str, token: Token) -> Account:
    return account_get(kind=kind, holder=f"user:{user.pk}", token=token)


@transaction.atomic
def user_register(*, username: str, password: str, role: str, email: str = "", errors: dict | None = None) -> User:
    """Create a creator or farmer account (web.signup.user_signup adds what other apps keep
    about a new user: the farmer profile, the ambassador who referred them)."""
    errors = dict(errors or {})  # the caller's own field errors, reported with these
    # NFC: "é" typed as one character or as "e" + accent is one name.
    username = unicodedata.normalize("NFC", (username or "").strip())
    if not USERNAME_RE.match(username):
        errors["username"] = ["3 to 150 letters, digits and @/./+/-/_ only."]
    elif problems := username_problems(username):
        errors["username"] = problems
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["This username is taken."]
    elif username_lookalike_exists(username):
        errors["username"] = [LOOKS_TAKEN]
    if role not in (User.Role.CREATOR, User.Role.FARMER):
        errors["role"] = ['Choose "creator" or "farmer".']
    candidate = User(username=username, email=email, role=role)
    try:
        validate_password(password or "", user=candidate)
    except ValidationError as error:
        errors["password"] = list(error.messages)
    if errors:
        raise ValidationError(errors)

    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email, role=role)
    except IntegrityError:  # the same username, or a look-alike, registered concurrently
        raise ValidationError({"username": [LOOKS_TAKEN]}) from None
    return user


def api_token_for(user) -> str:
    token, _ = ApiToken.objects.get_or_create(user=user)
    return token.key


@transaction.atomic
def api_token_rotate(*, user) -> str:
    ApiToken.objects.filter(user=user).delete()
    return ApiToken.objects.create(user=user).key


def api_token_revoke(*, user) -> None:
    ApiToken.objects.filter(user=user).delete()


def wallet_address_validate(token: Token, address: str) -> str:
    address = (address or "").strip()
    if token.chain == Token.Chain.EVM:
        if not EVM_ADDRESS_RE.match(address):
            raise ValidationError({"address": [f"{token.symbol} needs an EVM address: 0x followed by 40 hex digits."]})
    elif not SOLANA_ADDRESS_RE.match(address):
        raise ValidationError({"address": [f"{token.symbol} needs a Solana address (base58, 32 to 44 characters)."]})
    return address


@transaction.atomic
def withdrawal_request(*, user, token: Token, amount, address: str) -> Withdrawal:
    """Move `amount` from the user's balance to pending withdrawal, for staff to send. The
    address must be a wallet the user linked by signature on the token's chain, past its
    cooldown: settings.ACCOUNTS_WITHDRAWAL_WALLET (chain.selectors.wallet_for_withdrawal, named in
    settings because chain sits above accounts; docs/chain.md)."""
    if not token.enabled:
        raise ValidationError({"token": [f"{token.symbol} is disabled."]})
    units = parse_amount(amount, decimals=token.decimals)
    address = wallet_address_validate(token, address)
    withdrawal_requests_lock(user.pk)  # the daily total below is read and added to atomically
    address = import_string(settings.ACCOUNTS_WITHDRAWAL_WALLET)(user=user, chain=token.chain, address=address).address
    status = Withdrawal.Status.APPROVAL if withdrawal_needs_approval(user=user, token=token, units=units) else None
    withdrawal = Withdrawal.objects.create(
        user=user, token=token, amount=units, address=address, **({"status": status} if status else {})
    )
    sharers = set(Withdrawal.objects.filter(address=address).values_list("user_id", flat=True))
    if len(sharers) > 1:
        account_link_record(
            user_ids=sharers, signal=AccountLink.Signal.WALLET, evidence=f"withdrawals to the same wallet {address}"
        )
    transaction_post(
        key=f"withdrawal:{withdrawal.pk}",
        kind="withdrawal_request",
        legs=[
            Leg(user_account(user, Account.Kind.USER_BALANCE, token), -units),
            Leg(user_account(user, Account.Kind.USER_PENDING_WITHDRAWAL, token), units),
        ],
        memo=f"Withdrawal {withdrawal.pk} requested to {address}",
        actor=user,
    )
    return withdrawal


def withdrawal_needs_approval(*, user, token: Token, units: int, now=None) -> bool:
    """Above `FORGE_WITHDRAWAL_APPROVAL_ABOVE` for the token, or taking the user's total of
    the last 24 hours (this one included) above `FORGE_WITHDRAWAL_DAILY_LIMIT`."""
    limits = withdrawal_limits(token)
    if limits["above"] is not None and units > limits["above"]:
        return True
    if limits["daily"] is not None:
        since = (now or timezone.now()) - timedelta(hours=24)
        return withdrawals_total_since(user=user, token=token, since=since) + units > limits["daily"]
    return False


def _lock_pending(withdrawal: Withdrawal, *, statuses=(Withdrawal.Status.PENDING,)) -> Withdrawal:
    withdrawal = withdrawal_lock(withdrawal.pk)
    if withdrawal.status not in statuses:
        raise Conflict(f"This withdrawal is already {withdrawal.get_status_display().lower()}.")
    return withdrawal


@transaction.atomic
def withdrawal_approve(*, withdrawal: Withdrawal, actor) -> Withdrawal:
    """Staff release a withdrawal held above the limits: `approval` -> `pending` (then paid by
    the system, or marked sent by staff). Audited."""
    if not actor.is_staff:
        raise Forbidden("Only staff approve withdrawals.")
    withdrawal = _lock_pending(withdrawal, statuses=(Withdrawal.Status.APPROVAL,))
    withdrawal.status = Withdrawal.Status.PENDING
    withdrawal.save(update_fields=["status"])
    staff_action_record(
        actor=actor,
        action=StaffAction.Action.WITHDRAWAL_APPROVE,
        obj=withdrawal,
        before=_withdrawal_state(withdrawal, status=Withdrawal.Status.APPROVAL),
        after=_withdrawal_state(withdrawal),
    )
    return withdrawal


def withdrawal_sending_mark(*, withdrawal_id: int) -> Withdrawal | None:
    """The payout system takes a pending withdrawal (inside its transaction, which also stores
    the signed transfer): `pending` -> `sending`, or None when it is no longer pending. From
    then on staff can neither mark it sent nor reject it: the chain decides."""
    withdrawal = withdrawal_lock(withdrawal_id)
    if withdrawal.status != Withdrawal.Status.PENDING:
        return None
    withdrawal.status = Withdrawal.Status.SENDING
    withdrawal.save(update_fields=["status"])
    return withdrawal


def _post_sent(withdrawal: Withdrawal, chain_ref: str, actor) -> None:
    transaction_post(
        key=f"withdrawal-sent:{withdrawal.pk}",
        kind="withdrawal_sent",
        legs=[
            Leg(
                user_account(withdrawal.user, Account.Kind.USER_PENDING_WITHDRAWAL, withdrawal.token),
                -withdrawal.amount,
            ),
            Leg(world_withdrawals_account(withdrawal.token), withdrawal.amount),
        ],
        memo=f"Withdrawal {withdrawal.pk} sent ({chain_ref})",
        actor=actor,
    )


def _post_returned(withdrawal: Withdrawal, reason: str, actor) -> None:
    transaction_post(
        key=f"withdrawal-rejected:{withdrawal.pk}",
        kind="withdrawal_rejected",
        legs=[
            Leg(
                user_account(withdrawal.user, Account.Kind.USER_PENDING_WITHDRAWAL, withdrawal.token),
                -withdrawal.amount,
            ),
            Leg(user_account(withdrawal.user, Account.Kind.USER_BALANCE, withdrawal.token), withdrawal.amount),
        ],
        memo=f"Withdrawal {withdrawal.pk} rejected: {reason}"[:255],
        actor=actor,
    )


def withdrawal_sent_record(*, withdrawal_id: int, chain_ref: str) -> Withdrawal:
    """The payout system saw the transfer confirmed on chain: `sending` -> `sent`, the amount
    leaves through the ledger (same idempotency key as staff's "mark sent": once)."""
    withdrawal = withdrawal_lock(withdrawal_id)
    if withdrawal.status == Withdrawal.Status.SENT:
        return withdrawal
    if withdrawal.status != Withdrawal.Status.SENDING:
        raise Conflict(f"Withdrawal {withdrawal.pk} is {withdrawal.status}, not being sent.")
    _post_sent(withdrawal, chain_ref, None)
    withdrawal.status, withdrawal.chain_ref, withdrawal.processed_at = (
        Withdrawal.Status.SENT,
        chain_ref[:128],
        timezone.now(),
    )
    withdrawal.save(update_fields=["status", "chain_ref", "processed_at"])
    _withdrawal_notify(withdrawal, Kind.WITHDRAWAL_SENT, f"Sent on chain, reference {withdrawal.chain_ref}.")
    return withdrawal


def withdrawal_failed_return(*, withdrawal_id: int, reason: str, chain_ref: str = "") -> Withdrawal:
    """The transfer failed on chain (reverted): `sending` -> `rejected`, the amount returns to
    the balance through the ledger."""
    withdrawal = withdrawal_lock(withdrawal_id)
    if withdrawal.status == Withdrawal.Status.REJECTED:
        return withdrawal
    if withdrawal.status != Withdrawal.Status.SENDING:
        raise Conflict(f"Withdrawal {withdrawal.pk} is {withdrawal.status}, not being sent.")
    _post_returned(withdrawal, reason, None)
    withdrawal.status, withdrawal.reject_reason = Withdrawal.Status.REJECTED, reason[:255]
    withdrawal.chain_ref, withdrawal.processed_at = chain_ref[:128], timezone.now()
    withdrawal.save(update_fields=["status", "reject_reason", "chain_ref", "processed_at"])
    _withdrawal_notify(
        withdrawal,
        Kind.WITHDRAWAL_REJECTED,
        f"The transfer failed on chain ({withdrawal.reject_reason}). The amount is back in your balance.",
    )
    return withdrawal


@transaction.atomic
def withdrawal_mark_sent(*, withdrawal: Withdrawal, chain_ref: str, actor) -> Withdrawal:
    if not actor.is_staff:
        raise Forbidden("Only staff process withdrawals.")
    chain_ref = (chain_ref or "").strip()
    if not chain_ref:
        raise ValidationError({"chain_ref": ["The chain transaction reference is required."]})
    withdrawal = _lock_pending(withdrawal)
    _post_sent(withdrawal, chain_ref, actor)
    withdrawal.status = Withdrawal.Status.SENT
    withdrawal.chain_ref = chain_ref[:128]
    withdrawal.processed_at = timezone.now()
    withdrawal.processed_by = actor
    withdrawal.save(update_fields=["status", "chain_ref", "processed_at", "processed_by"])
    staff_action_record(
        actor=actor,
        action=StaffAction.Action.WITHDRAWAL_SENT,
        obj=withdrawal,
        before=_withdrawal_state(withdrawal, status=Withdrawal.Status.PENDING),
        after=_withdrawal_state(withdrawal) | {"chain_ref": withdrawal.chain_ref},
    )
    _withdrawal_notify(withdrawal, Kind.WITHDRAWAL_SENT, f"Sent on chain, reference {withdrawal.chain_ref}.")
    return withdrawal


@transaction.atomic
def withdrawal_reject(*, withdrawal: Withdrawal, reason: str, actor) -> Withdrawal:
    if not actor.is_staff:
        raise Forbidden("Only staff process withdrawals.")
    previous = withdrawal_lock(withdrawal.pk).status
    withdrawal = _lock_pending(withdrawal, statuses=(Withdrawal.Status.PENDING, Withdrawal.Status.APPROVAL))
    _post_returned(withdrawal, reason, actor)
    withdrawal.status = Withdrawal.Status.REJECTED
    withdrawal.reject_reason = (reason or "")[:255]
    withdrawal.processed_at = timezone.now()
    withdrawal.processed_by = actor
    withdrawal.save(update_fields=["status", "reject_reason", "processed_at", "processed_by"])
    staff_action_record(
        actor=actor,
        action=StaffAction.Action.WITHDRAWAL_REJECT,
        obj=withdrawal,
        before=_withdrawal_state(withdrawal, status=previous),
        after=_withdrawal_state(withdrawal),
        reason=withdrawal.reject_reason,
    )
    _withdrawal_notify(
        withdrawal,
        Kind.WITHDRAWAL_REJECTED,
        f"Reason: {withdrawal.reject_reason or 'none given'}. The amount is back in your balance.",
    )
    return withdrawal


def _withdrawal_notify(withdrawal: Withdrawal, kind: str, detail: str) -> None:
    """Told after commit (notifications.services.notify), never inside the posting."""
    amount = (
        f"{format_amount(withdrawal.amount, decimals=withdrawal.token.decimals, trim=True)} {withdrawal.token.symbol}"
    )
    verb = "sent" if kind == Kind.WITHDRAWAL_SENT else "rejected"
    notify(
        user=withdrawal.user_id,
        kind=kind,
        subject=f"Withdrawal of {amount} {verb}",
        body=detail,
        url="/accounts/",
        payload={"withdrawal_id": withdrawal.pk, "status": withdrawal.status},
        key=f"withdrawal:{withdrawal.pk}:{withdrawal.status}",
    )


def _withdrawal_state(withdrawal: Withdrawal, *, status: str | None = None) -> dict:
    """What the audit trail keeps of a withdrawal (`status` replaces the current one)."""
    return {
        "status": status or withdrawal.status,
        "user": withdrawal.user_id,
        "token": withdrawal.token.symbol,
        "amount": format_amount(withdrawal.amount, decimals=withdrawal.token.decimals),
        "address": withdrawal.address,
    }
