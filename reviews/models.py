"""Second opinions on a score: a farmer's appeal of a refused or held submission, and the staff
review queue (a proxy of pools' Submission, so the admin lists held rows apart).

An app above pools: it changes scores only through pools' review service
(`pools.services.submissions.submission_review`), which settles or posts the adjusting
transaction; nothing here moves money itself.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from pools.models import ScoreOverride, Submission


class Appeal(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        UPHELD = "upheld", "Upheld: score changed"
        DISMISSED = "dismissed", "Dismissed: score kept"

    class Route(models.TextChoices):
        JUDGE = "judge", "Model judge"
        STAFF = "staff", "Staff"

    # One appeal per submission: the database says so.
    submission = models.OneToOneField(Submission, on_delete=models.PROTECT, related_name="appeal")
    farmer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appeals")
    note = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    route = models.CharField(max_length=8, choices=Route.choices, default=Route.STAFF)
    # What the appeal was about: refused (settled below the threshold) or held for review.
    was_held = models.BooleanField(default=False)
    score_before = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    score_after = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    # Why the judge did not decide (unavailable, disagreed with the rules): the appeal went to staff.
    judge_note = models.CharField(max_length=500, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    score_override = models.OneToOneField(
        ScoreOverride, null=True, blank=True, on_delete=models.PROTECT, related_name="appeal"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="pending", decided_at__isnull=True)
                | (~models.Q(status="pending") & models.Q(decided_at__isnull=False)),
                name="appeal_decided_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"appeal of submission {self.submission_id} ({self.status})"


class HeldManager(models.Manager):
    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .filter(needs_review=True, status__in=[Submission.Status.SUBMITTED, Submission.Status.SCORING])
        )


class HeldSubmission(Submission):
    """The staff review queue in the admin: submissions held for review, not yet settled."""

    objects = HeldManager()

    class Meta:
        proxy = True
        verbose_name = "held submission"
        verbose_name_plural = "review queue (held submissions)"
