from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications and webhooks"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(_warm_unread_count, dispatch_uid="notifications-warm-unread")


def _warm_unread_count(sender, request, user, **kwargs):
    """A cache warm-up, not a rule: the header's unread count is counted once at sign-in, so
    the pages that follow spend no query on it (their budget: tests/bench)."""
    from .selectors import unread_count_cached

    unread_count_cached(user)
