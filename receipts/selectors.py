"""Reading receipts and published hours (all public except a farmer's own receipt file)."""

from __future__ import annotations

import json

from django.db.models import QuerySet

from . import proof
from .models import Receipt, ReceiptBatch


def batches_published() -> QuerySet[ReceiptBatch]:
    return ReceiptBatch.objects.order_by("-hour")


def batch_statement(batch: ReceiptBatch) -> dict:
    """The published hour as signed, with its signature and key."""
    return {
        **proof.statement(hour=batch.hour.isoformat(), count=batch.count, root=batch.root, totals=batch.totals),
        "signature": batch.signature,
        "public_key": batch.public_key,
        "published_at": batch.published_at.isoformat(),
    }


def batch_receipts(batch: ReceiptBatch) -> list[dict]:
    """Every receipt of the hour, in leaf order: enough to recompute the root and the totals."""
    return [
        {"receipt": json.loads(body), "signature": signature}
        for body, signature in batch.receipts.order_by("position").values_list("body", "signature")
    ]


def receipt_document(*, user, submission_id: int) -> dict | None:
    """The user's own receipt of a submission with its Merkle path and hour, or None (not
    theirs, no such receipt, or its hour is not published yet: `pending` then)."""
    receipt = Receipt.objects.filter(submission_id=submission_id, farmer=user).select_related("batch").first()
    if receipt is None:
        return None
    document = {"receipt": json.loads(receipt.body), "signature": receipt.signature}
    if receipt.batch is None:
        return {**document, "pending": "its hour is not published yet: download it after the hour ends"}
    leaves = [
        bytes.fromhex(leaf) for leaf in receipt.batch.receipts.order_by("position").values_list("leaf", flat=True)
    ]
    return {
        **document,
        "leaf_index": receipt.position,
        "path": proof.merkle_path(leaves, receipt.position),
        "batch": batch_statement(receipt.batch),
    }


def receipts_of(user) -> QuerySet[Receipt]:
    return Receipt.objects.filter(farmer=user).select_related("batch").order_by("-created_at", "-pk")
