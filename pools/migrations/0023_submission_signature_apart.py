"""A submission's near-duplicate signature and LSH keys move to a row of their own
(SubmissionSignature), and the unused index on `sequence_fingerprint` goes.

Scoring and settling a submission rewrite its row whole (they change indexed columns, so no
HOT update): the 0.9 kB signature was copied and its eight keys inserted in the GIN index
again at every settlement. Written once apart, they are neither. No query has looked rows up
by their sequence fingerprint since near-duplicates are found by similarity (issue 16); its
index was one more entry to write for every new row version.

The rows are copied in one statement; the old columns and their index are dropped after."""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.db.models.deletion
from django.db import migrations, models

COPY = """
    INSERT INTO pools_submissionsignature (submission_id, signature, bands)
    SELECT id, similarity_signature, signature_bands FROM pools_submission
    WHERE cardinality(signature_bands) > 0
"""
COPY_BACK = """
    UPDATE pools_submission AS s SET similarity_signature = g.signature, signature_bands = g.bands
    FROM pools_submissionsignature AS g WHERE g.submission_id = s.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("pools", "0022_signature_bands_without_pending_list"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="submission", name="submission_signature_bands"),
        migrations.RemoveIndex(model_name="submission", name="submission_fingerprint"),
        migrations.CreateModel(
            name="SubmissionSignature",
            fields=[
                (
                    "submission",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="signature",
                        serialize=False,
                        to="pools.submission",
                    ),
                ),
                ("signature", models.JSONField(default=dict)),
                (
                    "bands",
                    django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), default=list, size=None),
                ),
            ],
            options={
                "indexes": [
                    django.contrib.postgres.indexes.GinIndex(
                        fastupdate=False, fields=["bands"], name="submission_signature_bands"
                    )
                ],
            },
        ),
        migrations.RunSQL(sql=COPY, reverse_sql=COPY_BACK),
        migrations.RemoveField(model_name="submission", name="signature_bands"),
        migrations.RemoveField(model_name="submission", name="similarity_signature"),
    ]
