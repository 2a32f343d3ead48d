"""Snapshots are unique per set of inputs instead of per newest submission, so a corrected
score (same newest submission, different inputs) is kept in the history too."""

from django.db import migrations, models


def fingerprint_existing(apps, schema_editor):
    snapshot_model = apps.get_model("farmers", "ReputationSnapshot")
    for snapshot in snapshot_model.objects.all().only("id", "last_submission_id"):
        snapshot.inputs_fingerprint = f"legacy:{snapshot.last_submission_id}:{snapshot.id}"
        snapshot.save(update_fields=["inputs_fingerprint"])


class Migration(migrations.Migration):
    dependencies = [
        ("farmers", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="reputationsnapshot", name="reputation_once_per_submission"),
        migrations.AddField(
            model_name="reputationsnapshot",
            name="inputs_fingerprint",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(fingerprint_existing, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="reputationsnapshot",
            constraint=models.UniqueConstraint(fields=("user", "inputs_fingerprint"), name="reputation_once_per_inputs"),
        ),
    ]
