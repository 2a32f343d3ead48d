from django.db import migrations


def seed(apps, schema_editor):
    apps.get_model("pools", "EconomicsConfig").objects.get_or_create(id=1)


class Migration(migrations.Migration):
    dependencies = [("pools", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
