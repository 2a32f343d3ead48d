"""The wallets page under the account settings: linked wallets, a "connect" button per chain
(static/js/wallets.js talks to the injected wallet and the wallets API), and unlink."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import ApplicationError, NotFound
from core.pages import role_required
from pools.selectors import factory_for_creator

from .models import ChainKind
from .selectors import wallets_of
from .services import wallet_unlink
from .services.deposits import deposit_intent_create
from .services.solana import solana_deposit_intent_create


@login_required
@require_GET
def wallets(request):
    return render(
        request,
        "chain/wallets.html",
        {
            "wallets": wallets_of(request.user),
            "cooldown_hours": settings.FORGE_WALLET_COOLDOWN_HOURS,
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def wallet_unlink_page(request, wallet_id: int):
    try:
        wallet = wallet_unlink(user=request.user, wallet_id=wallet_id)
    except NotFound as error:  # another user's wallet: no hint that it exists
        raise Http404(error.message) from None
    messages.success(request, f"Wallet {wallet.address} was unlinked.")
    return redirect("chain:wallets")


@role_required("creator")
@require_POST
def deposit_intent_create_page(request, pk: int):
    """Announce an on-chain deposit from the fund page; errors come back as messages."""
    factory = factory_for_creator(request.user, pk)
    if factory is None:
        raise Http404("No such factory.")
    wallet = request.POST.get("wallet", "")
    try:
        if factory.token.chain == ChainKind.SOLANA:
            intent = solana_deposit_intent_create(
                factory=factory, actor=request.user, amount=request.POST.get("amount", "")
            )
        else:
            intent = deposit_intent_create(
                factory=factory,
                actor=request.user,
                wallet_id=int(wallet) if wallet.isdigit() and len(wallet) < 18 else None,
                amount=request.POST.get("amount", ""),
            )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        sender = f"from {intent.wallet.address}" if intent.wallet else "with the Solana Pay request below"
        messages.success(request, f"Deposit announced: send exactly {intent.token.money(intent.amount)} {sender}.")
    return redirect("pools:factory-fund", pk=factory.pk)
