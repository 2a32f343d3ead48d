"""Farmer reputation (0-100) and its history. See docs/reputation.md for the formula."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone


class FarmerProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="farmer_profile")
    reputation = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(50))
    breakdown = models.JSONField(default=dict, blank=True)
    settled_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    # Set in the same transaction as a settlement; the coalesced refresh task recomputes and
    # clears it, so a burst of settlements costs one recomputation per farmer, not one each.
    needs_refresh = models.BooleanField(default=False, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reputation__gte=0, reputation__lte=100), name="farmer_reputation_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.reputation})"


class ReputationSnapshot(models.Model):
    """One recomputation of a farmer's reputation (history for the farmer and for staff)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reputation_history")
    reputation = models.DecimalField(max_digits=5, decimal_places=2)
    breakdown = models.JSONField(default=dict)
    # The newest settled submission included (for people reading the history).
    last_submission_id = models.BigIntegerField(null=True)
    # sha256 of the inputs (each settled submission's id, score, status and threshold):
    # recomputing from the same work is a no-op, while a new settlement or a corrected score
    # adds a row.
    inputs_fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "inputs_fingerprint"], name="reputation_once_per_inputs"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.reputation} at {self.created_at:%Y-%m-%d %H:%M}"
