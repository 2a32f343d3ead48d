from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from forge import api_urls, views
from forge.health import healthz

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("creator/", include("pools.urls")),
    path("farm/", include("farmers.urls")),
    # One "referrals" namespace: the /r/<code> link (referrals.urls) and the /ambassador/ pages.
    path("", include("referrals.dashboard_urls")),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include((api_urls, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler403 = "forge.views.error_403"
handler404 = "forge.views.error_404"
handler500 = "forge.views.error_500"
