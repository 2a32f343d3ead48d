"""The wallets page under the account settings: linked wallets, a "connect" button per chain
(static/js/wallets.js talks to the injected wallet and the wallets API), and unlink."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from forge.exceptions import NotFound

from .selectors import wallets_of
from .services import wallet_unlink


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
