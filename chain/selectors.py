"""Reads about wallets: a user's linked wallets, and the one a withdrawal may go to."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from . import signin
from .models import Wallet


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
    wallet = (
        Wallet.objects.select_for_update()
        .filter(user=user, chain=chain, address=address, unlinked_at__isnull=True)
        .first()
    )
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
