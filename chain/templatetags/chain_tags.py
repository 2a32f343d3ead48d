"""`{% evm_deposit_panel factory %}`: how to pay a factory on chain (network, treasury, token
contract, the exact amount and sender that make the reference), and the announced deposits
with their progress. Rendered on the pools fund page without pools importing the chain app."""

from django import template
from django.conf import settings

from ..selectors import deposit_intents_of, evm_payment_details, intent_progress, solana_payment_details, wallets_of
from ..services.solana import solana_pay_url

register = template.Library()


@register.inclusion_tag("chain/_evm_deposit_panel.html", takes_context=True)
def evm_deposit_panel(context, factory):
    pay_to = evm_payment_details(factory.token)
    solana = solana_payment_details(factory.token)
    intents = []
    if pay_to is not None or solana is not None:
        intents = [(intent, intent_progress(intent)) for intent in deposit_intents_of(factory)[:20]]
    if solana is not None:
        intents = [(intent, {**progress, "url": solana_pay_url(intent)}) for intent, progress in intents]
    return {
        "factory": factory,
        "pay_to": pay_to,
        "solana": solana,
        "intents": intents,
        "wallets": [w for w in wallets_of(context["request"].user) if w.chain == "evm"] if pay_to else [],
        "simulated": settings.FORGE_DEPOSITS_AUTOCONFIRM,
        "csrf_token": context.get("csrf_token"),
    }
