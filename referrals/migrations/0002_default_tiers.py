"""Default tiers from economics.md: tier N earns N% of G from a stake of N million CLONES."""

from decimal import Decimal

from django.db import migrations


def seed(apps, schema_editor):
    CommissionTier = apps.get_model("referrals", "CommissionTier")
    for tier in range(1, 6):
        CommissionTier.objects.get_or_create(
            tier=tier,
            defaults={"commission_rate": Decimal(tier) / 100, "stake_threshold": Decimal(tier * 1_000_000)},
        )


class Migration(migrations.Migration):
    dependencies = [("referrals", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
