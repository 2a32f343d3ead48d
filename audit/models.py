"""The staff audit trail: one row per staff action that moves money or changes someone's
standing (deposit confirmation, withdrawal processing, score override, tier change, factory
force-close) or the money settings (economics settings, tokens, commission tiers). Written by
`audit.services.staff_action_record` inside the same database transaction as the change it
describes, so a change without its record (or the reverse) cannot be committed. Append-only:
PostgreSQL refuses UPDATE and DELETE (forge/migrations/0002, written when the model lived in the
`forge` app; audit/migrations/0001 moved it without touching the table), and the admin shows the
rows read-only.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class StaffAction(models.Model):
    class Action(models.TextChoices):
        DEPOSIT_CONFIRM = "deposit.confirm", "Deposit confirmed"
        DEPOSIT_REJECT = "deposit.reject", "Deposit rejected"
        WITHDRAWAL_SENT = "withdrawal.sent", "Withdrawal marked sent"
        WITHDRAWAL_REJECT = "withdrawal.reject", "Withdrawal rejected"
        WITHDRAWAL_APPROVE = "withdrawal.approve", "Withdrawal approved (above the limits)"
        SCORE_OVERRIDE = "submission.score_override", "Score overridden"
        AMBASSADOR_TIER = "ambassador.tier", "Ambassador tier set"
        COMMISSION_TIER = "commission_tier.update", "Commission tier changed"
        ECONOMICS_UPDATE = "economics.update", "Economics settings changed"
        TOKEN_CREATE = "token.create", "Token added"
        TOKEN_UPDATE = "token.update", "Token changed"
        FACTORY_FORCE_CLOSE = "factory.force_close", "Factory force-closed"
        FACTORY_UPDATE = "factory.update", "Another creator's factory edited"
        FACTORY_RATE_CHANGE = "factory.rate_change", "Another creator's reward rate changed"
        FACTORY_PAUSE = "factory.pause", "Another creator's factory paused"
        FACTORY_RESUME = "factory.resume", "Another creator's factory resumed"
        FACTORY_CLOSE = "factory.close", "Another creator's factory closed"
        APPEAL_DECIDE = "appeal.decide", "Appeal decided"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64, choices=Action.choices, db_index=True)
    # "app_label.model" and the primary key of the object acted on (a label, not a foreign key:
    # the trail outlives any schema change of the objects it describes).
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    after = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    reason = models.TextField(blank=True)

    class Meta:
        # The table keeps the name it had when the model lived in the `forge` app (moved by
        # audit/migrations/0001_initial without touching the data).
        db_table = "forge_staffaction"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_type}:{self.object_id} by {self.actor_id}"
