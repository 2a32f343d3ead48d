"""Fill the commission rollup (0004) from the submissions settled before it existed: per
ambassador, day of `settled_at` (TIME_ZONE, as the dashboard chart) and token, the farmer-side
and factory-side commissions. From here on settlement keeps it (referrals.services.
commission_rollup_add); the ledger audit checks it (referrals.selectors.audit_commission_rollup).

Self-contained (historical models), so later changes to the app code cannot change what this
migration does."""

from django.db import migrations
from django.db.models import Sum
from django.db.models.functions import TruncDate


def backfill(apps, schema_editor):
    Submission = apps.get_model("pools", "Submission")
    CommissionDay = apps.get_model("referrals", "CommissionDay")
    db = schema_editor.connection.alias
    found: dict[tuple, list[int]] = {}
    for side, (who, amount) in enumerate(
        (
            ("farmer_ambassador_id", "farmer_ambassador_commission"),
            ("factory_ambassador_id", "factory_ambassador_commission"),
        )
    ):
        grouped = (
            Submission.objects.using(db)
            .filter(**{f"{who}__isnull": False}, settled_at__isnull=False)
            .annotate(day=TruncDate("settled_at"))
            .values(who, "day", "factory__token_id")
            .annotate(total=Sum(amount))
            .order_by()
            .values_list(who, "day", "factory__token_id", "total")
        )
        for user_id, day, token_id, total in grouped:
            found.setdefault((user_id, day, token_id), [0, 0])[side] += int(total or 0)
    CommissionDay.objects.using(db).bulk_create(
        [
            CommissionDay(user_id=user_id, day=day, token_id=token_id, farmer_side=farmer, factory_side=factory)
            for (user_id, day, token_id), (farmer, factory) in sorted(found.items())
            if farmer or factory
        ],
        batch_size=5000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0004_commission_day"),
        ("pools", "0007_claim_factory_created_index"),
    ]

    # Backwards: 0004's reversal drops the table with its rows.
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False)]
