from django.urls import path

from . import accounts as views

app_name = "accounts"

urlpatterns = [
    path("", views.account, name="account"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("token/rotate/", views.token_rotate, name="token-rotate"),
    path("token/revoke/", views.token_revoke, name="token-revoke"),
]
