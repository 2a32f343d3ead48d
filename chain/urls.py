"""The chain app's pages: the wallets page under the account settings, and the form that
announces an on-chain deposit from a factory's fund page."""

from django.urls import path

from . import views

app_name = "chain"

urlpatterns = [
    path("accounts/wallets/", views.wallets, name="wallets"),
    path("accounts/wallets/<int:wallet_id>/unlink/", views.wallet_unlink_page, name="wallet-unlink"),
    path(
        "creator/factories/<int:pk>/chain-deposits/",
        views.deposit_intent_create_page,
        name="deposit-intent-create",
    ),
]
