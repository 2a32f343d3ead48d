"""Locks of the evidence app, in one place (the project's lock order: ledger/locks.py).

- `farmer_uploads_lock`: a transaction-scoped advisory lock per farmer, taken before counting a
  farmer's uploads and creating one, so that two concurrent creations cannot both pass the
  per-farmer limits. It guards no row, so it sits outside the row order: nothing else is locked
  while it is held.
- `upload_lock`: one upload row, taken to append a chunk (after the chunk's bytes have arrived:
  a slow client never holds it) or to take the finished upload for a claim.
- `keyframes_lock`: a transaction-scoped advisory lock taken by `recording_examine` around "look
  up other recordings' frames, then store ours". Two copies of one video examined at the same
  moment would otherwise each miss the other (neither committed yet) and both be paid. Only this
  short write phase is serialised, never the decoding. It is taken before any row lock of pools
  (the submission, inside `submission_evidence_record`), and nothing else takes it, so it adds
  no lock-order edge. (A one-bigint advisory key: a different key space from the two-int keys
  of `farmer_uploads_lock`.)
"""

from __future__ import annotations

from django.db import connection

from .models import ArchiveUpload

# The first key of pg_advisory_xact_lock(int, int): this app's namespace for farmer locks.
FARMER_UPLOADS_LOCK_SPACE = 0x45564455  # "EVDU"
# The key of pg_advisory_xact_lock(bigint) naming the keyframe index lock.
KEYFRAMES_LOCK_KEY = 0x45564652  # "EVFR"


def farmer_uploads_lock(farmer_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [FARMER_UPLOADS_LOCK_SPACE, farmer_id % 2**31])


def upload_lock(upload_id) -> ArchiveUpload | None:
    return ArchiveUpload.objects.select_for_update(of=("self",)).filter(pk=upload_id).first()


def keyframes_lock() -> None:
    """Hold the keyframe index lock until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [KEYFRAMES_LOCK_KEY])
