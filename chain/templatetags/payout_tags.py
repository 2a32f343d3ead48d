"""Payout information on pages of other apps, without those apps importing the chain app:
`{% withdrawal_notes %}` (who sends withdrawals, the network fee, the approval limits, demo
mode) under every withdrawal form, and `{% hot_wallet_panel %}`, `{% solana_hot_wallet_panel %}` on the admin index."""

from django import template
from django.conf import settings

from ledger.models import Token

from ..payout_selectors import (
    hot_wallet_status,
    payouts_enabled,
    solana_hot_wallet_status,
    solana_payouts_enabled,
    withdrawal_fee_estimate,
)

register = template.Library()


@register.inclusion_tag("chain/_withdrawal_notes.html")
def withdrawal_notes():
    tokens = Token.objects.filter(enabled=True).order_by("symbol")
    fees = [(token.symbol, fee) for token in tokens if (fee := withdrawal_fee_estimate(token)) is not None]
    limits = [
        (
            symbol,
            settings.FORGE_WITHDRAWAL_APPROVAL_ABOVE.get(symbol),
            settings.FORGE_WITHDRAWAL_DAILY_LIMIT.get(symbol),
        )
        for symbol in sorted(set(settings.FORGE_WITHDRAWAL_APPROVAL_ABOVE) | set(settings.FORGE_WITHDRAWAL_DAILY_LIMIT))
    ]
    return {
        "automatic": payouts_enabled(),
        "solana_automatic": solana_payouts_enabled(),
        "confirmations": settings.FORGE_EVM_CONFIRMATIONS,
        "fees": fees,
        "limits": limits,
    }


@register.inclusion_tag("chain/_hot_wallet_panel.html")
def hot_wallet_panel():
    return {"hot": hot_wallet_status()}


@register.inclusion_tag("chain/_solana_hot_wallet_panel.html")
def solana_hot_wallet_panel():
    return {"hot": solana_hot_wallet_status()}


@register.simple_tag
def payouts_note() -> str:
    """One line for the admin's withdrawals list: who sends them."""
    from django.utils.html import format_html

    if payouts_enabled():
        return format_html(
            '<p id="payouts-note">EVM withdrawals are sent by the payout system (see EVM payouts); '
            "those above the limits are in status “{}” until approved. Solana withdrawals: {}.</p>",
            "Waiting for staff approval",
            "sent by the payout system (see Solana payouts)"
            if solana_payouts_enabled()
            else "staff send and mark them sent",
        )
    if solana_payouts_enabled():
        return format_html(
            '<p id="payouts-note">{}</p>',
            "Solana withdrawals are sent by the payout system (see Solana payouts); "
            "EVM withdrawals: staff send and mark them sent.",
        )
    return format_html(
        '<p id="payouts-note">{}</p>', "Payouts by the system are off: staff send withdrawals and mark them sent."
    )
