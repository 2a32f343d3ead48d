"""Reads of the notification centre and the webhook pages (never writes)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import QuerySet

from .models import Kind, Notification, NotificationPreference, WebhookDelivery, WebhookEndpoint

# Forgotten explicitly whenever the count changes (services.unread_forget), so it may live long.
UNREAD_CACHE_SECONDS = 24 * 3600


def unread_cache_key(user_id: int) -> str:
    return f"notifications:unread:{user_id}"


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def unread_count_cached(user) -> int:
    """The header's count on every page, without a query per page: counted when the user signs
    in (apps.py warms it) or after it changed, then cached until their notifications change
    again (services.unread_forget). An unreachable cache falls back to counting."""
    key = unread_cache_key(user.pk)
    try:
        cached = cache.get(key)
    except Exception:
        return unread_count(user)
    if cached is None:
        cached = unread_count(user)
        with contextlib.suppress(Exception):  # counted again next time
            cache.set(key, cached, UNREAD_CACHE_SECONDS)
    return cached


def notifications_of(user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


@dataclass(frozen=True)
class Preference:
    kind: str
    label: str
    in_app: bool
    email: bool


def preferences_of(user) -> list[Preference]:
    """Every kind with this user's choice (the default, both on, where they made none)."""
    chosen = {row.kind: row for row in NotificationPreference.objects.filter(user=user)}
    return [
        Preference(
            kind=kind,
            label=label,
            in_app=chosen[kind].in_app if kind in chosen else True,
            email=chosen[kind].email if kind in chosen else True,
        )
        for kind, label in Kind.choices
    ]


def webhook_endpoints_of(user) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=user).order_by("id")


def webhook_endpoint_of(user, endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(owner=user, pk=endpoint_id).first()


def webhook_deliveries_of(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.order_by("-created_at", "-id")
