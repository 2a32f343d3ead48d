"""Project-level pages: the public landing page and the error pages."""

from django.shortcuts import render

from ledger.models import Token
from pools.selectors import economics_config
from referrals.models import CommissionTier


def home(request):
    config = economics_config()
    return render(
        request,
        "home.html",
        {
            "config": config,
            "tiers": CommissionTier.objects.all(),
            "tokens": Token.objects.filter(enabled=True),
        },
    )


def error_403(request, exception=None):
    return render(request, "errors/403.html", status=403)


def error_404(request, exception=None):
    return render(request, "errors/404.html", status=404)


def error_500(request):
    return render(request, "errors/500.html", status=500)
