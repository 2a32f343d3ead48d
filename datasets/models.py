"""Datasets and alerts: a creator's exports of their factory's accepted demonstrations, and the
alerts creators are told on the dashboard and by email (docs/datasets.md).

Both models lived in pools until issue 15 split the sub-domain out: they keep their tables
(`db_table`), and datasets/migrations/0001 moved them without touching a row.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from pools.models import Factory


def export_upload_to(instance, filename: str) -> str:
    return f"exports/{instance.factory_id}/{filename}"


class Export(models.Model):
    """A creator's dataset export: a JSONL manifest of the accepted demonstrations (zipped with
    their attachments when asked), built by a Celery task and kept in the default storage."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    factory = models.ForeignKey(Factory, on_delete=models.PROTECT, related_name="exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    count = models.PositiveIntegerField(default=0, help_text="Demonstrations written so far (all of them when ready).")
    include_attachments = models.BooleanField(default=False)
    # The dataset filters as given (strings), parsed again by the task with the same rules.
    filters = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to=export_upload_to, blank=True, max_length=255)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved on with every progress update; a running export whose heartbeat stops was lost
    # with its worker and is picked up again by the sweeper.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "pools_export"  # the table it had in pools (datasets/migrations/0001 moved the model)
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="export_progress_max_100"),
        ]
        indexes = [
            models.Index(fields=["factory", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} of factory {self.factory_id} ({self.status})"

    @property
    def is_done(self) -> bool:
        return self.status in (self.Status.READY, self.Status.FAILED)


class Alert(models.Model):
    """Something a creator is told, on the dashboard and by email.

    `key` names the condition ("pool-low:factory:12"). While an alert is unresolved no other
    alert with the same key can exist (a partial unique constraint), so a condition that
    persists is reported once per episode; when it ends the alert is resolved, and the next
    episode gets a new alert.
    """

    class Kind(models.TextChoices):
        POOL_LOW = "pool_low", "Pool running low"
        TARGET_REACHED = "target_reached", "Target reached"
        EXPORT_READY = "export_ready", "Export ready"
        EXPORT_FAILED = "export_failed", "Export failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    key = models.CharField(max_length=128)
    factory = models.ForeignKey(Factory, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    export = models.ForeignKey(Export, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "pools_alert"  # the table it had in pools (datasets/migrations/0001 moved the model)
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(resolved_at__isnull=True), name="alert_one_open_per_key"
            ),
        ]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"
