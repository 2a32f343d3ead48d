"""Notifications for people (the in-app centre and email, per-user preferences) and signed
webhooks for machines (Standard Webhooks: endpoints per creator, one delivery row per event and
endpoint, retried with backoff).

Every app above calls `notifications.services.notify` (or `notify_many`); nothing here imports
an app (the user model is named by settings), so any app may depend on it.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class Kind(models.TextChoices):
    """The events a person may hear about. A new kind is a new line here (and its email default
    in `preferences`)."""

    WITHDRAWAL_SENT = "withdrawal.sent", "Withdrawal sent"
    WITHDRAWAL_REJECTED = "withdrawal.rejected", "Withdrawal rejected"
    SUBMISSION_HELD = "submission.held", "Submission held for review"
    SUBMISSION_PAID = "submission.paid", "Submission paid"
    SUBMISSION_REFUSED = "submission.refused", "Submission refused"
    SCORE_CHANGED = "submission.score_changed", "Score changed by a review"
    APPEAL_RECEIVED = "appeal.received", "Appeal received"
    APPEAL_DECIDED = "appeal.decided", "Appeal decided"
    FLAG_RAISED = "flag.raised", "Demonstration flagged"
    FLAG_DECIDED = "flag.decided", "Flag decided"
    BONUS_PAID = "bonus.paid", "Bonus paid"


class Notification(models.Model):
    """One message to one person. `key` makes a repeated event (a task delivered twice) one row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(encoder=DjangoJSONEncoder, default=dict, blank=True)
    key = models.CharField(max_length=120, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Email: `email_wanted` is the durable intent (the user's preference when the event
    # happened); `emailed_at` is set once the message left. The sweeper resends the rest.
    email_wanted = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="notification_user_key_unique"),
        ]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_user_unread"),
            models.Index(
                fields=["created_at"],
                name="notification_email_pending",
                condition=models.Q(email_wanted=True, emailed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.user_id}: {self.subject}"


class NotificationPreference(models.Model):
    """A person's choice for one kind; no row means the default (in the centre, and by email)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: in app {self.in_app}, email {self.email}"


class WebhookEndpoint(models.Model):
    """Where a creator wants events POSTed, signed with `secret` (Standard Webhooks)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # "whsec_" + base64 of 32 random bytes; the bytes after the prefix are the HMAC key.
    secret = models.CharField(max_length=100)
    # Event types to send; empty means every type.
    event_types = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: the exact body signed, and the log of its attempts. The row
    is the durable intent (status pending); the Celery task and the sweeper deliver it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=60)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "message_id"], name="webhook_delivery_unique"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id} ({self.status})"
