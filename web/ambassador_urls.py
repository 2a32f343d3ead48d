"""The "referrals" URL namespace: the /r/<code> link (referrals.urls) and the ambassador
dashboard under /ambassador/. One module, because Django reverses a namespace through one
included URLconf only: two includes named "referrals" would hide each other's names."""

from django.urls import path

from referrals.urls import urlpatterns as link_patterns

from . import ambassador as dashboard

app_name = "referrals"

urlpatterns = [
    *link_patterns,
    path("ambassador/", dashboard.dashboard, name="dashboard"),
    path("ambassador/become/", dashboard.become, name="become"),
    path("ambassador/stake/", dashboard.stake_view, name="stake"),
    path("ambassador/unstake/", dashboard.unstake_view, name="unstake"),
    path("ambassador/withdrawals/", dashboard.withdraw, name="withdraw"),
]
