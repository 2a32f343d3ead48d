"""The near-duplicate index keeps no pending list (GIN `fastupdate = off`): a lookup scans the
whole pending list for each of a batch's keys, and the settling UPDATEs keep it full (3.9 s
against 0.18 s per batch of 500 at 100,000 submissions, docs/performance.md, benchmark 1).

In the database the index is altered in place and its pending list merged now
(`gin_clean_pending_list`), so a large table is not re-indexed; in Django's state it is the
same index with `fastupdate=False`."""

import django.contrib.postgres.indexes
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pools", "0021_submission_evidence_sweeps"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        "ALTER INDEX submission_signature_bands SET (fastupdate = off)",
                        "SELECT gin_clean_pending_list('submission_signature_bands'::regclass)",
                    ],
                    reverse_sql=["ALTER INDEX submission_signature_bands SET (fastupdate = on)"],
                ),
            ],
            state_operations=[
                migrations.RemoveIndex(model_name="submission", name="submission_signature_bands"),
                migrations.AddIndex(
                    model_name="submission",
                    index=django.contrib.postgres.indexes.GinIndex(
                        fastupdate=False, fields=["signature_bands"], name="submission_signature_bands"
                    ),
                ),
            ],
        ),
    ]
