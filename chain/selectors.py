"""Reads about wallets: a user's linked wallets, and the one a withdrawal may go to."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from . import signin
from .locks import wallet_lock_active
from .models import ChainKind, ChainTransfer, DepositIntent, EvmCursor, Wallet


def wallets_of(user) -> QuerySet[Wallet]:
    """The user's linked wallets, newest first."""
    return Wallet.objects.filter(user=user, unlinked_at__isnull=True).order_by("-verified_at", "-id")


def wallet_for_withdrawal(*, user, chain: str, address: str, now=None) -> Wallet:
    """The user's linked wallet at `address` on `chain`, past its cooldown, locked until the
    end of the caller's transaction (an unlink waits). Raises `ValidationError` on `address`."""
    try:
        address = signin.address_normalise(chain, address)
    except signin.SignInError as error:
        raise ValidationError({"address": [error.message]}) from None
    wallet = wallet_lock_active(user=user, chain=chain, address=address)
    if wallet is None:
        raise ValidationError(
            {
                "address": [
                    "Withdrawals go only to a wallet you linked by signature: link this one on your wallets page first."
                ]
            }
        )
    now = now or timezone.now()
    if now < wallet.usable_from:
        opens = timezone.localtime(wallet.usable_from).strftime("%Y-%m-%d %H:%M %Z")
        raise ValidationError({"address": [f"This wallet was linked recently: withdrawals to it open at {opens}."]})
    return wallet


def evm_payment_details(token) -> dict | None:
    """Where and how to pay `token` on chain (None when it cannot be paid on chain here)."""
    from django.conf import settings

    from .models import ChainAsset

    if token.chain != ChainKind.EVM or not settings.FORGE_EVM_TREASURY_ADDRESS:
        return None
    asset = ChainAsset.objects.filter(token=token).first()
    if asset is None:
        return None
    return {
        "network": settings.FORGE_EVM_NETWORK_NAME,
        "chain_id": settings.FORGE_EVM_CHAIN_ID,
        "treasury": signin.address_normalise(ChainKind.EVM, settings.FORGE_EVM_TREASURY_ADDRESS),
        "contract": asset.contract_address or None,
        "confirmations": settings.FORGE_EVM_CONFIRMATIONS,
        "watching": bool(settings.FORGE_EVM_RPC_URL),
    }


def solana_payment_details(token) -> dict | None:
    """Where and how to pay `token` on Solana (None when it cannot be paid there here)."""
    from django.conf import settings

    from .services.solana import solana_mints

    mints = solana_mints()
    if token.chain != ChainKind.SOLANA or token.symbol not in mints or not settings.FORGE_SOLANA_TREASURY_ADDRESS:
        return None
    return {
        "cluster": settings.FORGE_SOLANA_CLUSTER,
        "treasury": settings.FORGE_SOLANA_TREASURY_ADDRESS,
        "mint": mints[token.symbol] or None,
        "commitment": "finalized",
        "watching": bool(settings.FORGE_SOLANA_RPC_URL),
    }


def deposit_intents_of(factory) -> QuerySet[DepositIntent]:
    """A factory's announced on-chain deposits with their transfers, newest first."""
    return (
        DepositIntent.objects.filter(factory=factory)
        .select_related("token", "wallet", "deposit")
        .prefetch_related("transfers")
        .order_by("-created_at", "-id")
    )


def intent_progress(intent: DepositIntent) -> dict:
    """What the creator sees: waiting for the transfer, pending (n of N confirmations), credited."""
    from django.conf import settings

    cursor = EvmCursor.objects.filter(name="evm").values_list("next_block", flat=True).first()
    pending = [t for t in intent.transfers.all() if t.status == ChainTransfer.Status.PENDING]
    if intent.status != DepositIntent.Status.OPEN or not pending:
        return {"state": intent.status, "confirmations": None}
    if intent.reference:  # Solana: credited at `finalized` commitment, no block count
        return {"state": "pending", "confirmations": None, "tx_hash": pending[0].tx_hash}
    seen_head = (cursor or 0) - 1
    return {
        "state": "pending",
        "confirmations": max(seen_head - pending[0].block_number + 1, 0),
        "required": settings.FORGE_EVM_CONFIRMATIONS,
        "tx_hash": pending[0].tx_hash,
    }


def audit_chain_deposits() -> list[str]:
    """Ledger audit cross-check (settings.LEDGER_AUDIT_CHECKS): every credited on-chain
    transfer is one confirmed deposit of the same token, amount and reference."""
    from django.db.models import F, Q

    from pools.models import Deposit

    wrong = ChainTransfer.objects.filter(status=ChainTransfer.Status.CREDITED).filter(
        Q(deposit__isnull=True)
        | ~Q(deposit__status=Deposit.Status.CONFIRMED)
        | ~Q(deposit__amount=F("amount"))
        | ~Q(deposit__token=F("token"))
    )
    return [
        f"credited chain transfer {pk} does not match its deposit" for pk in wrong.values_list("pk", flat=True)[:20]
    ]


def audit_solana_payouts() -> list[str]:
    """Ledger audit cross-check (settings.LEDGER_AUDIT_CHECKS): a finalized Solana payout is its
    withdrawal sent, by that signature, of the same token and amount; a failed one is its
    withdrawal returned; a withdrawal has at most one payout that is live or confirmed."""
    from django.db.models import Count, F, Q

    from accounts.models import Withdrawal

    from .models import SolanaPayout

    same = Q(withdrawal__amount=F("amount")) & Q(withdrawal__token=F("token"))
    wrong_sent = SolanaPayout.objects.filter(status=SolanaPayout.Status.CONFIRMED).exclude(
        same & Q(withdrawal__status=Withdrawal.Status.SENT) & Q(withdrawal__chain_ref=F("signature"))
    )
    wrong_failed = SolanaPayout.objects.filter(status=SolanaPayout.Status.FAILED).exclude(
        same & Q(withdrawal__status=Withdrawal.Status.REJECTED)
    )
    doubled = (
        SolanaPayout.objects.filter(status__in=[*SolanaPayout.LIVE, SolanaPayout.Status.CONFIRMED])
        .values("withdrawal_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    return (
        [
            f"finalized Solana payout {pk} does not match its sent withdrawal"
            for pk in wrong_sent.values_list("pk", flat=True)[:20]
        ]
        + [
            f"failed Solana payout {pk} does not match its returned withdrawal"
            for pk in wrong_failed.values_list("pk", flat=True)[:20]
        ]
        + [f"withdrawal {row['withdrawal_id']} has {row['n']} Solana payouts in flight or paid" for row in doubled[:20]]
    )
