"""Writing receipts and publishing each hour's Merkle root (docs/receipts.md).

Settlement does not wait for any of this: the beat task `receipts.publish` builds the receipts
of settled rows afterwards (`receipts_build`), and once an hour is over publishes its batch
(`receipt_batches_publish`). Both are idempotent: a receipt per submission (unique), a batch per
hour (unique), and both run under the receipts lock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, timedelta

from django.db import transaction
from django.db.models import Max
from django.db.models.functions import TruncHour
from django.utils import timezone

from ledger.models import Entry
from pools.models import Submission

from . import proof
from .keys import receipt_keypair, sign
from .locks import receipts_lock
from .models import Receipt, ReceiptBatch


def _blinder(keypair):
    """Receipts are public: a user appears as a keyed hash of (submission, user), so published
    receipts name no one and cannot be linked to each other. The key is derived from the
    receipt key (never stored); the farmer knows their receipt by its submission id."""
    secret = hashlib.sha256(b"forge-pools receipt pseudonyms\n" + bytes(keypair)[:32]).digest()

    def blind(submission_id: int, user_id) -> str:
        digest = hmac.new(secret, f"{submission_id}:{user_id}".encode(), hashlib.sha256).hexdigest()
        return f"~{digest[:20]}"

    return blind


def _holder(holder: str, submission_id: int, blind) -> str:
    kind, _, rest = holder.partition(":")
    return f"user:{blind(submission_id, rest)}" if kind == "user" else holder


def receipt_body(submission: Submission, entries: list[Entry], *, blind) -> dict:
    """What a receipt says: the submission, its score, the shares and the ledger transaction
    (user accounts blinded, pools and the platform's accounts by name)."""
    tx = submission.settlement_transaction
    return {
        "v": 1,
        "submission": submission.pk,
        "factory": submission.factory_id,
        "farmer": blind(submission.pk, submission.farmer_id),
        "token": submission.factory.token.symbol,
        "decimals": submission.factory.token.decimals,
        "status": submission.status,
        "quality_score": str(submission.quality_score),
        "graded_by": submission.graded_by,
        "terms": submission.settlement_terms,
        "shares": {name: str(int(getattr(submission, name) or 0)) for name in proof.SHARE_FIELDS},
        "ledger": {
            "transaction": tx.pk,
            "idempotency_key": tx.idempotency_key,
            "kind": tx.kind,
            "created_at": tx.created_at.isoformat(),
            "entries": [
                {
                    "account": f"{e.account.kind}:{_holder(e.account.holder, submission.pk, blind)}",
                    "amount": str(int(e.amount)),
                }
                for e in entries
            ],
        },
        "settled_at": submission.settled_at.isoformat(),
    }


def receipts_build(*, limit: int = 500) -> int:
    """Sign a receipt for up to `limit` settled or rejected submissions that have none.
    Returns how many were written (the task calls it again while it returns `limit`)."""
    keypair = receipt_keypair()  # raises NoReceiptKey: nothing is written without a key
    blind = _blinder(keypair)
    with transaction.atomic():
        receipts_lock()
        rows = list(
            Submission.objects.filter(
                status__in=[Submission.Status.SETTLED, Submission.Status.REJECTED],
                settlement_transaction__isnull=False,
                receipt__isnull=True,
            )
            .select_related("factory__token", "settlement_transaction")
            .order_by("settled_at", "pk")[:limit]
        )
        if not rows:
            return 0
        entries: dict[int, list[Entry]] = {}
        for entry in (
            Entry.objects.filter(transaction_id__in=[r.settlement_transaction_id for r in rows])
            .select_related("account")
            .order_by("transaction_id", "account_id")
        ):
            entries.setdefault(entry.transaction_id, []).append(entry)
        now = timezone.now()
        # Never into an hour already published (a worker whose clock is behind the publisher's).
        last_hour = ReceiptBatch.objects.aggregate(last=Max("hour"))["last"]
        if last_hour is not None and now < last_hour + timedelta(hours=1):
            now = last_hour + timedelta(hours=1)
        receipts = []
        for row in rows:
            body = receipt_body(row, entries.get(row.settlement_transaction_id, []), blind=blind)
            text = proof.canonical(body)
            receipts.append(
                Receipt(
                    submission=row,
                    farmer_id=row.farmer_id,
                    factory_id_value=row.factory_id,
                    body=text.decode(),
                    signature=str(keypair.sign_message(proof.RECEIPT_DOMAIN + text)),
                    leaf=proof.leaf_hash(body).hex(),
                    created_at=now,
                )
            )
        Receipt.objects.bulk_create(receipts, ignore_conflicts=True)
        return len(receipts)


def receipt_batches_publish(*, now=None) -> list[ReceiptBatch]:
    """Publish a batch for every hour that is over and has unpublished receipts, oldest first:
    the receipts in id order are the leaves; the statement (hour, count, root, totals per pool)
    is signed."""
    now = now or timezone.now()
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    published = []
    with transaction.atomic():
        receipts_lock()
        hours = (
            Receipt.objects.filter(batch__isnull=True, created_at__lt=current_hour)
            .annotate(hour=TruncHour("created_at", tzinfo=UTC))
            .values_list("hour", flat=True)
            .distinct()
            .order_by("hour")
        )
        public_key = str(receipt_keypair().pubkey())
        for hour in list(hours):
            rows = list(
                Receipt.objects.filter(
                    batch__isnull=True, created_at__gte=hour, created_at__lt=hour + timedelta(hours=1)
                ).order_by("pk")
            )
            bodies = [json.loads(r.body) for r in rows]
            root = proof.merkle_root([bytes.fromhex(r.leaf) for r in rows]).hex()
            totals = proof.totals_of(bodies)
            statement = proof.statement(hour=hour.isoformat(), count=len(rows), root=root, totals=totals)
            batch = ReceiptBatch.objects.create(
                hour=hour,
                count=len(rows),
                root=root,
                totals=totals,
                public_key=public_key,
                signature=sign(proof.ROOT_DOMAIN, proof.canonical(statement)),
                published_at=now,
            )
            for position, row in enumerate(rows):
                row.batch, row.position = batch, position
            Receipt.objects.bulk_update(rows, ["batch", "position"])
            published.append(batch)
    return published
