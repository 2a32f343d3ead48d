"""Every reputation is recomputed once under the per-creator share (docs/reputation.md, "One
creator's share"): a score earned before it, up to 98.54 from one creator's work, would
otherwise stand until the farmer's next settlement. One UPDATE flags every profile; the beat
task `farmers.reputation_refresh` (every minute) recomputes the flagged ones in its batches."""

from django.db import migrations


def flag_every_profile(apps, schema_editor):
    apps.get_model("farmers", "FarmerProfile").objects.filter(needs_refresh=False).update(needs_refresh=True)


class Migration(migrations.Migration):
    dependencies = [
        ("farmers", "0003_profile_needs_refresh"),
    ]

    operations = [
        migrations.RunPython(flag_every_profile, migrations.RunPython.noop, elidable=True),
    ]
