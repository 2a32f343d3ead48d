from django.urls import path

from . import views

app_name = "chain"

urlpatterns = [
    path("", views.wallets, name="wallets"),
    path("<int:wallet_id>/unlink/", views.wallet_unlink_page, name="wallet-unlink"),
]
