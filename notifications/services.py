"""Telling people and machines what happened.

`notify` (one) and `notify_many` (a batch) are the one entry point for every app: they take
plain values, do nothing until the caller's transaction commits (so a rolled-back settlement
tells nobody, and no notification row is written inside a money transaction's critical
section), then record the rows in their own short transaction and wake the email and webhook
senders through `core.queue`.

    notify(user=farmer, kind=Kind.SUBMISSION_PAID, subject="...", body="...",
           url="/farm/submissions/12/", payload={"submission_id": 12}, key="paid:12")

`key` makes the call idempotent per user (tasks are delivered at least once). A crash between
the commit and the recording loses that notification (the money and its audit are committed;
the message is a courtesy); email and webhook sends, once recorded, are durable rows resent by
the sweepers until they leave.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from core.db import AnyId, bulk_insert_values  # noqa: F401 - AnyId registers `__any_id`
from core.exceptions import ApplicationError, NotFound
from core.queue import queue_on_commit, wake_up_on_commit

from .models import Kind, Notification, NotificationPreference, WebhookDelivery, WebhookEndpoint
from .selectors import unread_cache_key

logger = logging.getLogger(__name__)

EMAIL_WAKE_KEY = "notifications:emails-wake"
WEBHOOK_TEST_EVENT = "webhook.test"
# Events for machines only (no notification row: a creator's centre is not a settlement log).
WEBHOOK_ONLY_EVENTS = {"submission.settled": "A submission on one of your factories settled"}
WEBHOOK_EVENT_TYPES = [*Kind.values, *WEBHOOK_ONLY_EVENTS, WEBHOOK_TEST_EVENT]
# What notifications_record writes, in this order (every NOT NULL column: a raw insert fills in
# no model default).
NOTIFICATION_COLUMNS = (
    "user",
    "kind",
    "subject",
    "body",
    "url",
    "payload",
    "key",
    "created_at",
    "read_at",
    "email_wanted",
    "email_attempts",
)
EMAIL_WANTED = NOTIFICATION_COLUMNS.index("email_wanted")


@dataclass(frozen=True)
class Notice:
    user_id: int
    kind: str
    subject: str
    body: str = ""
    url: str = ""
    payload: dict = field(default_factory=dict)
    key: str | None = None


def _user_id(user) -> int:
    return user if isinstance(user, int) else user.pk


def notify(
    *,
    user,
    kind: str,
    subject: str,
    body: str = "",
    url: str = "",
    payload: dict | None = None,
    key: str | None = None,
) -> None:
    """Tell `user` (a user or its id) about an event of `kind` (a `Kind`), after commit."""
    notify_many(
        notices=[
            Notice(
                user_id=_user_id(user),
                kind=kind,
                subject=subject,
                body=body,
                url=url,
                payload=payload or {},
                key=key,
            )
        ]
    )


def notify_many(*, notices: list[Notice]) -> None:
    """`notify` for a batch (a settlement batch tells each farmer once, in one insert)."""
    notices = list(notices)
    if not notices:
        return
    for notice in notices:
        if notice.kind not in Kind.values:
            raise ValueError(f"unknown notification kind {notice.kind!r}")  # a bug, not input
    transaction.on_commit(lambda: notifications_record(notices=notices))


def _preferences(user_ids: set[int]) -> dict[tuple[int, str], NotificationPreference]:
    rows = NotificationPreference.objects.filter(user_id__any_id=user_ids)
    return {(row.user_id, row.kind): row for row in rows}


@transaction.atomic
def notifications_record(*, notices: list[Notice]) -> int:
    """Write the rows (a repeated key is skipped), queue the webhook deliveries of the users'
    endpoints, wake the email sender. Returns the number of notices offered."""
    from django.contrib.auth import get_user_model

    user_ids = {notice.user_id for notice in notices}
    preferences = _preferences(user_ids)
    # Only users with an address are written to: an email nobody can receive is not wanted
    # (otherwise the sender spends each one, one row at a time, on the workers that settle:
    # 0.3 s after every settlement batch of 500, docs/performance.md).
    addressed = set(get_user_model().objects.filter(pk__any_id=user_ids).exclude(email="").values_list("pk", flat=True))
    now = timezone.now()
    rows = []
    for notice in notices:
        preference = preferences.get((notice.user_id, notice.kind))
        in_app = preference.in_app if preference else True
        email = (preference.email if preference else True) and notice.user_id in addressed
        rows.append(
            (
                notice.user_id,
                notice.kind,
                notice.subject[:200],
                notice.body,
                notice.url[:500],
                notice.payload,
                notice.key,
                now,
                # Muted in the centre: kept (the history stays whole) but never counted unread.
                None if in_app else now,
                email,
                0,
            )
        )
    # A repeated (user, key) is the same event delivered twice: skipped by the unique constraint.
    # One statement from a JSON record set: a settlement batch's 500 "paid" rows as model
    # instances through bulk_create cost more than settling them (docs/performance.md).
    bulk_insert_values(Notification, NOTIFICATION_COLUMNS, rows, unique=("user", "key"))
    transaction.on_commit(lambda: unread_forget(user_ids))
    if any(row[EMAIL_WANTED] for row in rows):
        wake_up_on_commit("notifications.emails_send", key=EMAIL_WAKE_KEY, window_seconds=1)
    # The users' webhook endpoints in one query (a settlement batch notifies many farmers).
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(owner_id__any_id=user_ids, is_active=True):
        endpoints.setdefault(endpoint.owner_id, []).append(endpoint)
    for notice in notices:
        if notice.user_id not in endpoints:
            continue
        webhook_event_send(
            owner_id=notice.user_id,
            event_type=notice.kind,
            data={"subject": notice.subject, "body": notice.body, "url": notice.url, **notice.payload},
            idempotency_key=f"{notice.kind}:{notice.key}" if notice.key else None,
            endpoints=endpoints[notice.user_id],
        )
    return len(notices)


# --- the in-app centre --------------------------------------------------------------------


def notifications_mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark `ids` (all when None) of this user's notifications read; another user's ids are
    ignored (the count says how many changed)."""
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(id__in=ids)
    marked = rows.update(read_at=timezone.now())
    transaction.on_commit(lambda: unread_forget({user.pk}))
    return marked


@transaction.atomic
def notification_open(*, user, notification_id: int) -> Notification:
    """The user opened one of their notifications (clicked it in the centre): mark it read (once;
    opening it again changes nothing) and return it, for the caller to follow its `url`. Another
    user's id, or none, is a 404."""
    notification = Notification.objects.select_for_update().filter(pk=notification_id, user=user).first()
    if notification is None:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        transaction.on_commit(lambda: unread_forget({user.pk}))
    return notification


def unread_forget(user_ids) -> None:
    """Drop the cached header counts (selectors.unread_count_cached) of these users."""
    try:
        cache.delete_many([unread_cache_key(user_id) for user_id in user_ids])
    except Exception:
        logger.warning("the cache is unreachable; unread counts refresh within a minute")


@transaction.atomic
def notification_preferences_set(*, user, choices: dict[str, tuple[bool, bool]]) -> None:
    """`choices`: kind -> (in the centre, by email). Unknown kinds are a 400."""
    unknown = set(choices) - set(Kind.values)
    if unknown:
        raise ApplicationError(f"Unknown notification kind: {', '.join(sorted(unknown))}.")
    for kind, (in_app, email) in choices.items():
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind, defaults={"in_app": bool(in_app), "email": bool(email)}
        )


# --- email --------------------------------------------------------------------------------

EMAIL_BATCH = 100
EMAIL_MAX_ATTEMPTS = 5


def emails_send_pending(*, limit: int = EMAIL_BATCH) -> int:
    """Send up to `limit` wanted, unsent emails; returns how many left. Each row is claimed
    with SKIP LOCKED in its own transaction, so two workers never send one twice."""
    from django.contrib.auth import get_user_model

    sent = 0
    for _ in range(limit):
        with transaction.atomic():
            row = (
                Notification.objects.select_for_update(skip_locked=True)
                .filter(email_wanted=True, emailed_at__isnull=True, email_attempts__lt=EMAIL_MAX_ATTEMPTS)
                .order_by("created_at", "id")
                .first()
            )
            if row is None:
                break
            address = get_user_model().objects.filter(pk=row.user_id).values_list("email", flat=True).first()
            row.email_attempts += 1
            if not address:
                # Nobody to write to: the intent is spent, not retried forever.
                row.email_wanted = False
                row.save(update_fields=["email_wanted", "email_attempts"])
                continue
            body = row.body
            if row.url.startswith("/"):
                body = f"{body}\n\n{settings.FORGE_SITE_URL.rstrip('/')}{row.url}"
            try:
                send_mail(row.subject, body, None, [address])
            except Exception:
                logger.exception("email for notification %s failed; the sweeper retries", row.pk)
                row.save(update_fields=["email_attempts"])
                continue
            row.emailed_at = timezone.now()
            row.save(update_fields=["emailed_at", "email_attempts"])
            sent += 1
    return sent


# --- webhooks (Standard Webhooks) -----------------------------------------------------------


def webhook_secret_generate() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_sign(*, secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`."""
    import hashlib
    import hmac

    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _validate_endpoint_url(url: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    url = (url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ApplicationError("Enter a valid http(s) URL for the webhook endpoint.") from None
    if len(url) > 500:
        raise ApplicationError("The webhook URL is too long (500 characters at most).")
    if not settings.WEBHOOKS_ALLOW_HTTP and not url.startswith("https://"):
        raise ApplicationError("Webhook endpoints must use https.")
    return url


def webhook_endpoint_create(
    *, owner, url: str, description: str = "", event_types: list[str] | None = None
) -> WebhookEndpoint:
    if not getattr(owner, "is_creator", False):
        raise ApplicationError("Only factory creators can add webhook endpoints.")
    url = _validate_endpoint_url(url)
    event_types = list(event_types or [])
    unknown = set(event_types) - set(WEBHOOK_EVENT_TYPES)
    if unknown:
        raise ApplicationError(f"Unknown event type: {', '.join(sorted(unknown))}.")
    if WebhookEndpoint.objects.filter(owner=owner).count() >= settings.WEBHOOK_MAX_ENDPOINTS:
        raise ApplicationError(f"At most {settings.WEBHOOK_MAX_ENDPOINTS} webhook endpoints per creator.")
    return WebhookEndpoint.objects.create(
        owner=owner,
        url=url,
        description=(description or "")[:200],
        secret=webhook_secret_generate(),
        event_types=event_types,
    )


def webhook_endpoint_delete(*, owner, endpoint_id: int) -> None:
    deleted, _ = WebhookEndpoint.objects.filter(owner=owner, pk=endpoint_id).delete()
    if not deleted:
        raise NotFound("No such webhook endpoint.")


def _event_body(*, message_id: str, event_type: str, data: dict) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": timezone.now().isoformat(), "id": message_id, "data": data},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
        sort_keys=True,
    )


def webhook_event_send(
    *,
    owner_id: int,
    event_type: str,
    data: dict,
    idempotency_key: str | None = None,
    endpoints: list[WebhookEndpoint] | None = None,
) -> list[WebhookDelivery]:
    """Queue the event for each active endpoint of `owner_id` subscribed to it. The delivery
    rows are the durable intent; the task is sent after commit."""
    if endpoints is None:
        endpoints = list(WebhookEndpoint.objects.filter(owner_id=owner_id, is_active=True))
    deliveries = []
    for endpoint in endpoints:
        if endpoint.event_types and event_type not in endpoint.event_types:
            continue
        if idempotency_key:
            # Stable per event and endpoint, so a repeated event is the same message.
            message_id = "msg_" + uuid.uuid5(uuid.NAMESPACE_URL, f"{endpoint.pk}:{idempotency_key}").hex
        else:
            message_id = "msg_" + uuid.uuid4().hex
        delivery, created = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint,
            message_id=message_id,
            defaults={
                "event_type": event_type,
                "body": _event_body(message_id=message_id, event_type=event_type, data=data),
            },
        )
        if created:
            queue_on_commit("notifications.webhook_deliver", delivery.pk)
        deliveries.append(delivery)
    return deliveries


@dataclass(frozen=True)
class WebhookEvent:
    owner_id: int
    event_type: str
    data: dict
    key: str | None = None


def webhook_events_send_many(*, events: list[WebhookEvent]) -> None:
    """Machine events (WEBHOOK_ONLY_EVENTS) for their owners' endpoints, after commit, like
    `notify_many`: one endpoint query for the batch, nothing for owners without endpoints."""
    events = list(events)
    for event in events:
        if event.event_type not in WEBHOOK_ONLY_EVENTS:
            raise ValueError(f"unknown webhook event type {event.event_type!r}")  # a bug, not input
    if events:
        transaction.on_commit(lambda: webhook_events_record(events=events))


def webhook_events_record(*, events: list[WebhookEvent]) -> None:
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(owner_id__in={e.owner_id for e in events}, is_active=True):
        endpoints.setdefault(endpoint.owner_id, []).append(endpoint)
    if not endpoints:
        return  # the usual case, read outside a transaction: nothing to write
    with transaction.atomic():
        for event in events:
            if event.owner_id in endpoints:
                webhook_event_send(
                    owner_id=event.owner_id,
                    event_type=event.event_type,
                    data=event.data,
                    idempotency_key=f"{event.event_type}:{event.key}" if event.key else None,
                    endpoints=endpoints[event.owner_id],
                )


def webhook_test_send(*, owner, endpoint_id: int) -> WebhookDelivery:
    """The "send test event" button."""
    endpoint = WebhookEndpoint.objects.filter(owner=owner, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    with transaction.atomic():
        (delivery,) = webhook_event_send(
            owner_id=owner.pk,
            event_type=WEBHOOK_TEST_EVENT,
            data={"message": "A test event from Forge Pools."},
            endpoints=[endpoint] if not endpoint.event_types else [_all_events(endpoint)],
        )
    return delivery


def _all_events(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """The test event goes to an endpoint whatever it subscribed to."""
    endpoint.event_types = []
    return endpoint


def webhook_retry_delay(attempts: int) -> int | None:
    """Seconds before attempt `attempts + 1`, or None once the schedule is spent (exponential
    backoff as in Standard Webhooks' reference schedule, FORGE_WEBHOOK_RETRY_SECONDS)."""
    schedule = settings.WEBHOOK_RETRY_SECONDS
    if attempts > len(schedule):
        return None
    return schedule[attempts - 1]


def webhook_deliver(*, delivery_id: int) -> int | None:
    """One attempt at one delivery, if it is due. Returns the seconds until the next attempt
    when it failed and may be retried, else None. The row is locked (SKIP LOCKED) for the
    attempt, so two workers never post the same message at once."""
    import httpx

    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        now = timezone.now()
        if delivery.next_attempt_at > now:
            return None  # early (a message ahead of its countdown): the sweeper sends it when due
        endpoint = delivery.endpoint
        timestamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": "ForgePools-Webhooks/1",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhook_sign(
                secret=endpoint.secret, message_id=delivery.message_id, timestamp=timestamp, body=delivery.body
            ),
        }
        delivery.attempts += 1
        try:
            response = httpx.post(
                endpoint.url,
                content=delivery.body.encode(),
                headers=headers,
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                follow_redirects=False,
            )
            delivery.last_status_code = response.status_code
            delivery.last_error = "" if response.is_success else response.text[:500]
            ok = response.is_success
        except httpx.HTTPError as error:
            delivery.last_status_code = None
            delivery.last_error = f"{type(error).__name__}: {error}"[:500]
            ok = False
        retry_in = None
        if ok:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
        else:
            retry_in = webhook_retry_delay(delivery.attempts)
            if retry_in is None:
                delivery.status = WebhookDelivery.Status.FAILED
            else:
                delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
        delivery.save()
    return retry_in


def webhook_deliveries_due(*, limit: int = 500) -> list[int]:
    """Pending deliveries whose time has come (the sweeper sends each again)."""
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
