"""The unread count in the header of every page (counted only when a page shows it)."""

from .selectors import unread_count_cached


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cached = {}

    def count() -> int:
        if "n" not in cached:
            cached["n"] = unread_count_cached(user)
        return cached["n"]

    return {"unread_notifications": count}
