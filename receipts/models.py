"""Signed settlement receipts and the hourly Merkle roots over them (docs/receipts.md).

A receipt is written once per settled (or rejected) submission, after the settlement, by the
beat task: its body is the canonical JSON text that was signed (receipts/proof.py), kept
exactly. Receipts created during one hour go into that hour's batch when it is published,
in id order; the batch keeps the root, the totals per pool and the signature of both.
"""

from django.db import models


class ReceiptBatch(models.Model):
    hour = models.DateTimeField(unique=True)  # the start of the hour (UTC) its receipts were written in
    count = models.PositiveIntegerField()
    root = models.CharField(max_length=64)  # hex sha256
    totals = models.JSONField()  # per pool: receipts, settled, rejected, share sums (base units)
    public_key = models.CharField(max_length=64)  # base58 ed25519 key that signed it
    signature = models.CharField(max_length=100)  # base58, over ROOT_DOMAIN + the statement
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["-hour"]
        constraints = [models.CheckConstraint(condition=models.Q(count__gt=0), name="receipt_batch_not_empty")]

    def __str__(self) -> str:
        return f"receipts of {self.hour:%Y-%m-%d %H}:00 UTC ({self.count})"


class Receipt(models.Model):
    submission = models.OneToOneField("pools.Submission", on_delete=models.PROTECT, related_name="receipt")
    farmer = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+", db_index=False)
    factory_id_value = models.BigIntegerField()  # the pool, for the totals (no join at publish time)
    body = models.TextField()  # canonical JSON, exactly what was signed
    signature = models.CharField(max_length=100)
    leaf = models.CharField(max_length=64)  # hex sha256(0x00 + body)
    created_at = models.DateTimeField(db_index=True)
    batch = models.ForeignKey(ReceiptBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="receipts")
    position = models.PositiveIntegerField(null=True, blank=True)  # its leaf index in the batch

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["farmer", "-created_at"], name="receipt_farmer_recent")]
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="receipt_one_leaf_per_position"),
            models.CheckConstraint(
                condition=models.Q(batch__isnull=True, position__isnull=True)
                | models.Q(batch__isnull=False, position__isnull=False),
                name="receipt_position_with_batch",
            ),
        ]

    def __str__(self) -> str:
        return f"receipt of submission {self.submission_id}"
