from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from forge import api_urls
from forge.health import healthz
from forge.metrics import metrics
from web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("", include("chain.urls")),  # /accounts/wallets/..., /creator/factories/<id>/chain-deposits/
    path("", include("receipts.urls")),  # /proofs/...: the public proof of payouts
    path("accounts/", include("web.accounts_urls")),
    path("creator/", include("web.creator_urls")),
    path("farm/", include("web.farmers_urls")),
    path("evidence/", include("web.evidence_urls")),
    # One "referrals" namespace: the /r/<code> link (referrals.urls) and the /ambassador/ pages.
    path("", include("web.ambassador_urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/", include((api_urls, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

if getattr(settings, "BENCH_BARE_ENDPOINT", False):
    # Benchmark 4's baseline (bench/intake.py): the whole middleware stack and a JSON answer,
    # no authentication and no database. Routed only under forge.settings.bench.
    @csrf_exempt
    def bench_bare(request):
        return JsonResponse({"ok": True, "received": len(request.body)})

    urlpatterns.append(path("bench/bare/", bench_bare, name="bench-bare"))

handler403 = "web.views.error_403"
handler404 = "web.views.error_404"
handler500 = "web.views.error_500"
