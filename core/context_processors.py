"""Template context shared by every page."""

from django.conf import settings


def site(request):
    # Demo mode (deposits confirmed on receipt): pages that show money moving on chain say so.
    return {"site_name": settings.FORGE_SITE_NAME, "chain_simulated": settings.FORGE_DEPOSITS_AUTOCONFIRM}
