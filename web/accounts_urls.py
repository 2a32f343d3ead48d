from django.urls import path

from . import accounts as views
from . import notifications

app_name = "accounts"

urlpatterns = [
    path("", views.account, name="account"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("token/rotate/", views.token_rotate, name="token-rotate"),
    path("token/revoke/", views.token_revoke, name="token-revoke"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("notifications/read/", notifications.notification_read, name="notifications-read"),
    path(
        "notifications/<int:notification_id>/open/",
        notifications.notification_open_view,
        name="notification-open",
    ),
    path("notifications/preferences/", notifications.notification_preferences, name="notification-preferences"),
    path("webhooks/", notifications.webhooks, name="webhooks"),
    path("webhooks/<int:endpoint_id>/delete/", notifications.webhook_delete, name="webhook-delete"),
    path("webhooks/<int:endpoint_id>/test/", notifications.webhook_test, name="webhook-test"),
    path("webhooks/<int:endpoint_id>/deliveries/", notifications.webhook_deliveries, name="webhook-deliveries"),
]
