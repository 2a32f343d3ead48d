"""Template context shared by every page."""

from django.conf import settings


def site(request):
    # `site_title` is what the layout shows: Django's auth views (login, password change) put
    # their own `site_name` in the context (the request's host, "127.0.0.1:8000"), which
    # would override this one on exactly those pages.
    # Demo mode (deposits confirmed on receipt): pages that show money moving on chain say so.
    return {
        "site_name": settings.FORGE_SITE_NAME,
        "site_title": settings.FORGE_SITE_NAME,
        "chain_simulated": settings.FORGE_DEPOSITS_AUTOCONFIRM,
    }
