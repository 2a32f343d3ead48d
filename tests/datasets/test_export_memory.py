"""An export of a large dataset runs in bounded memory: rows stream from the database in
chunks and go line by line to a temporary file, never into one big string or list.

The rows are bulk-inserted (the export reads demonstrations and scores, not money): each
settled submission gets its own claim and an empty ledger transaction as its settlement
record, which the database requires of a settled submission. Peak Python memory during the
build is measured with tracemalloc and must stay under a quarter of the file's size; the
numbers are printed (pytest -s) and recorded in docs/datasets.md.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from datasets.models import Export
from datasets.selectors import DatasetFilters
from datasets.services.exports import export_build, export_request
from ledger.models import Transaction
from pools.models import Claim, Submission
from tests.factories import FarmerFactory, demonstration
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

ROWS = 20_000
BATCH = 2_000


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def bulk_accepted(factory, rows: int) -> None:
    farmers = [FarmerFactory() for _ in range(20)]
    now = timezone.now()
    for start in range(0, rows, BATCH):
        numbers = range(start, min(start + BATCH, rows))
        claims = Claim.objects.bulk_create(
            Claim(
                factory=factory,
                farmer=farmers[n % len(farmers)],
                reward=factory.reward,
                status=Claim.Status.SUBMITTED,
                expires_at=now + timedelta(hours=1),
            )
            for n in numbers
        )
        records = Transaction.objects.bulk_create(
            Transaction(idempotency_key=f"test-export-memory:{n}", kind="test", fingerprint="-") for n in numbers
        )
        Submission.objects.bulk_create(
            Submission(
                claim=claim,
                factory=factory,
                farmer_id=claim.farmer_id,
                demonstration=demonstration(variant=n),
                status=Submission.Status.SETTLED,
                submitted_at=now - timedelta(seconds=rows - n),
                quality_score=Decimal("0.8"),
                score_breakdown={"outcome": {"score": "0.8", "weight": "0.5", "reasons": []}},
                settled_at=now,
                settlement_transaction=record,
            )
            for n, claim, record in zip(numbers, claims, records, strict=True)
        )


def test_exporting_20000_demonstrations_stays_in_bounded_memory(creator, settings):
    factory = funded_factory(creator)
    bulk_accepted(factory, ROWS)
    export = export_request(factory=factory, actor=creator, filters=DatasetFilters())  # task not run: no commit

    tracemalloc.start()
    started = time.perf_counter()
    try:
        export_build(export_id=export.pk)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    export = Export.objects.get(pk=export.pk)
    assert export.status == Export.Status.READY, export.error
    assert export.count == ROWS
    size = export.size
    with export.file.open("rb") as stored:
        lines = sum(1 for _ in stored)
    assert lines == ROWS
    print(
        f"\nexport of {ROWS} demonstrations: {size / 1e6:.1f} MB written, peak traced memory "
        f"{peak / 1e6:.2f} MB ({100 * peak / size:.1f}% of the file), {elapsed:.1f} s under tracemalloc "
        f"({ROWS / elapsed:.0f} rows/s), chunk size {settings.FORGE_EXPORT_CHUNK_SIZE}"
    )
    assert peak < size / 4
