"""Export and Alert now live in the datasets app (datasets/migrations/0001_initial): drop them
from this app's state only; the tables and their rows stay where they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pools", "0008_submission_fewer_indexes"),
        ("datasets", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Alert"), migrations.DeleteModel(name="Export")],
            database_operations=[],
        ),
    ]
