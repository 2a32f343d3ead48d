"""Alerts for creators: shown on the dashboard until read, and sent by email (Django's email
backend) once.

- **Pool low**: an active factory's available pool cannot pay the next few rewards
  (available < FORGE_ALERT_POOL_LOW_REWARDS x reward; fewer when fewer slots are left before
  the target).
- **Target reached**: an open factory has accepted as many demonstrations as its target.
- **Export ready / failed**: when an export finishes (see services/exports.py).

Pool and target conditions are computed by a periodic task (`alerts_check`). Each alert has a
`key` naming its condition ("pool-low:factory:12"); a partial unique constraint allows one
unresolved alert per key, so a condition that lasts is reported once, and when it ends the
alert is resolved: the next time it happens is a new episode with a new alert.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from core.money import format_amount
from pools.models import Factory

from ..models import Alert, Export

logger = logging.getLogger(__name__)

MAX_EMAIL_ATTEMPTS = 5
# Alerts older than this are not emailed any more (e.g. an address added much later).
EMAIL_WINDOW_HOURS = 24


def pool_low_rewards() -> int:
    return max(1, int(getattr(settings, "FORGE_ALERT_POOL_LOW_REWARDS", 3)))


def _site_url(path: str) -> str:
    return getattr(settings, "FORGE_SITE_URL", "").rstrip("/") + path


def _pool_low_key(factory_id: int) -> str:
    return f"pool-low:factory:{factory_id}"


def _target_key(factory_id: int) -> str:
    return f"target-reached:factory:{factory_id}"


def _pool_low_factories() -> list[Factory]:
    """Active factories whose pool cannot pay the next few rewards still wanted."""
    rewards = pool_low_rewards()
    candidates = (
        Factory.objects.filter(status=Factory.Status.ACTIVE, available_account__balance__lt=F("reward") * rewards)
        .select_related("token", "available_account")
        .order_by("id")
    )
    found = []
    for factory in candidates.iterator(chunk_size=500):
        wanted = rewards if factory.slots_left is None else min(rewards, factory.slots_left)
        if wanted and factory.available_account.balance < wanted * factory.reward:
            found.append(factory)
    return found


def _target_reached_factories():
    return (
        Factory.objects.filter(target_count__isnull=False, accepted_count__gte=F("target_count"))
        .exclude(status=Factory.Status.CLOSED)
        .select_related("token")
        .order_by("id")
    )


def _open(*, key: str, user_id: int, kind: str, title: str, body: str, factory=None, export=None) -> Alert | None:
    """Create the alert unless one with the same key is unresolved (then None)."""
    if Alert.objects.filter(key=key, resolved_at__isnull=True).exists():
        return None
    try:
        with transaction.atomic():
            return Alert.objects.create(
                key=key, user_id=user_id, kind=kind, title=title, body=body, factory=factory, export=export
            )
    except IntegrityError:  # another run opened it first: still one alert per episode
        return None


def _resolve_others(kind: str, still_true: set[str], now) -> int:
    return Alert.objects.filter(kind=kind, resolved_at__isnull=True).exclude(key__in=still_true).update(resolved_at=now)


def alerts_check(*, now=None) -> list[int]:
    """Open alerts for pools running low and targets reached, resolve those whose condition
    ended, and email what is new. Returns the ids of the alerts opened."""
    now = now or timezone.now()
    opened: list[Alert] = []

    low = _pool_low_factories()
    for factory in low:
        available = format_amount(factory.available_account.balance, decimals=factory.token.decimals, trim=True)
        reward = format_amount(factory.reward, decimals=factory.token.decimals, trim=True)
        alert = _open(
            key=_pool_low_key(factory.pk),
            user_id=factory.creator_id,
            kind=Alert.Kind.POOL_LOW,
            factory=factory,
            title=f"“{factory.title}” is running out of funds",
            body=(
                f"The pool has {available} {factory.token.symbol} available and each demonstration pays "
                f"{reward} {factory.token.symbol}: it cannot pay the next {pool_low_rewards()} rewards. "
                "Farmers stop seeing the factory once it cannot pay one. Fund it to keep data coming: "
                + _site_url(reverse("pools:factory-fund", args=[factory.pk]))
            ),
        )
        if alert:
            opened.append(alert)
    _resolve_others(Alert.Kind.POOL_LOW, {_pool_low_key(factory.pk) for factory in low}, now)

    reached_keys = set()
    for factory in _target_reached_factories().iterator(chunk_size=500):
        reached_keys.add(_target_key(factory.pk))
        alert = _open(
            key=_target_key(factory.pk),
            user_id=factory.creator_id,
            kind=Alert.Kind.TARGET_REACHED,
            factory=factory,
            title=f"“{factory.title}” reached its target",
            body=(
                f"{factory.accepted_count} demonstrations were accepted (target {factory.target_count}). "
                "Browse and export the dataset: " + _site_url(reverse("pools:factory-dataset", args=[factory.pk]))
            ),
        )
        if alert:
            opened.append(alert)
    _resolve_others(Alert.Kind.TARGET_REACHED, reached_keys, now)

    alerts_email_pending(now=now)
    return [alert.pk for alert in opened]


def alert_export_finished(*, export: Export) -> Alert | None:
    """Tell the factory's creator that an export is ready (or failed); once per export."""
    factory = export.factory
    page = _site_url(reverse("pools:factory-dataset", args=[factory.pk]))
    if export.status == Export.Status.READY:
        kind, title = Alert.Kind.EXPORT_READY, f"Your export of “{factory.title}” is ready"
        body = f"{export.count} demonstrations were exported. Download it from the dataset page: {page}"
    elif export.status == Export.Status.FAILED:
        kind, title = Alert.Kind.EXPORT_FAILED, f"Your export of “{factory.title}” failed"
        body = f"{export.error} You can start a new export from the dataset page: {page}"
    else:
        return None
    alert = _open(
        key=f"export:{export.pk}",
        user_id=factory.creator_id,
        kind=kind,
        factory=factory,
        export=export,
        title=title,
        body=body,
    )
    if alert:
        alerts_email_pending(alert_ids=[alert.pk])
    return alert


def alerts_email_pending(*, alert_ids: list[int] | None = None, now=None) -> int:
    """Email alerts not emailed yet (recent ones, to users with an address). Each is claimed
    by a compare-and-swap before sending, so two concurrent runs never send the same alert;
    a failed send is released for the next run (at most MAX_EMAIL_ATTEMPTS tries)."""
    now = now or timezone.now()
    pending = Alert.objects.filter(
        emailed_at__isnull=True,
        email_attempts__lt=MAX_EMAIL_ATTEMPTS,
        created_at__gte=now - timezone.timedelta(hours=EMAIL_WINDOW_HOURS),
    ).exclude(user__email="")
    if alert_ids is not None:
        pending = pending.filter(pk__in=alert_ids)
    sent = 0
    for alert in pending.select_related("user").order_by("id")[:500]:
        claimed = Alert.objects.filter(pk=alert.pk, emailed_at__isnull=True).update(
            emailed_at=timezone.now(), email_attempts=F("email_attempts") + 1
        )
        if not claimed:
            continue
        try:
            send_mail(
                subject=f"[{settings.FORGE_SITE_NAME}] {alert.title}",
                message=f"{alert.body}\n\nAll your alerts: {_site_url(reverse('pools:dashboard'))}\n",
                from_email=None,
                recipient_list=[alert.user.email],
            )
        except Exception:
            logger.exception("could not email alert %s; will try again", alert.pk)
            Alert.objects.filter(pk=alert.pk).update(emailed_at=None)
            continue
        sent += 1
    return sent


def alert_mark_read(*, user, alert_id: int | None = None) -> int:
    """Mark one of the user's alerts (or all of them) as read; returns how many changed."""
    alerts = Alert.objects.filter(user=user, read_at__isnull=True)
    if alert_id is not None:
        alerts = alerts.filter(pk=alert_id)
    return alerts.update(read_at=timezone.now())
