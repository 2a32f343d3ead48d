"""StaffAction now lives in the `audit` app (audit/migrations/0001_initial): drop it from this
app's state only; the table and its rows stay where they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("forge", "0002_staff_action_append_only"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="StaffAction")],
            database_operations=[],
        ),
    ]
