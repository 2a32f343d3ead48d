"""Covering indexes for the pages of benchmark 3 (docs/performance.md).

- The ambassador dashboard sums an ambassador's commissions per day and token, once per side:
  (farmer_ambassador, settled_at) and (factory_ambassador, settled_at), each carrying its
  commission and the factory (for the token), partial on the side being set: index-only scans
  instead of a BitmapOr over two indexes plus a heap visit per settled submission.
- A factory's detail page sums payouts per day, counts scores per bin and totals what was paid:
  (factory, settled_at) carrying status, gross payout and score.

Created with SQL (not Meta.indexes), written when the project still ran on SQLite too (whose
indexes have no INCLUDE). Django's migration state does not know them, so no later migration
drops them.
"""

from django.db import migrations

INDEXES = {
    "sub_farmer_amb_day_cover": (
        "pools_submission (farmer_ambassador_id, settled_at) INCLUDE (farmer_ambassador_commission, factory_id) "
        "WHERE farmer_ambassador_id IS NOT NULL"
    ),
    "sub_factory_amb_day_cover": (
        "pools_submission (factory_ambassador_id, settled_at) INCLUDE (factory_ambassador_commission, factory_id) "
        "WHERE factory_ambassador_id IS NOT NULL"
    ),
    "sub_factory_settled_cover": (
        "pools_submission (factory_id, settled_at) INCLUDE (status, gross_payout, quality_score)"
    ),
}


def create(apps, schema_editor):
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def drop(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("pools", "0004_exports_alerts")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
