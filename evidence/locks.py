"""The evidence app's locks.

`keyframes_lock`: a transaction-scoped PostgreSQL advisory lock taken by
`recording_examine` around "look up other recordings' frames, then store ours". Two copies of
one video examined at the same moment would otherwise each miss the other (neither committed
yet) and both be paid. Only this short write phase is serialised, never the decoding. It is
taken before any row lock of pools (the submission, inside `submission_evidence_record`), and
nothing else takes it, so it adds no lock-order edge (ledger/locks.py).
"""

from __future__ import annotations

from django.db import connection

# An arbitrary constant naming this lock among the database's advisory locks.
KEYFRAMES_LOCK_KEY = 0x45564652  # "EVFR"


def keyframes_lock() -> None:
    """Hold the keyframe index lock until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [KEYFRAMES_LOCK_KEY])
