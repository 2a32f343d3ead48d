"""The receipts app's one lock: building receipts and publishing an hour take the same
transaction-scoped advisory lock, so a receipt is never written into an hour that is being, or
has been, published (its `created_at` is taken under the lock, after any publication of the
previous hour committed)."""

from django.db import connection

_RECEIPTS_LOCK = 0x52454350  # "RECP"


def receipts_lock() -> None:
    """Inside a transaction: wait for the receipts lock, held until commit or rollback."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RECEIPTS_LOCK])
