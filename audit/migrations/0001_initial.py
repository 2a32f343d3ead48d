"""StaffAction moves here from the `forge` app (which keeps only project configuration).

The table, its rows, its index and its append-only trigger (forge/migrations/0002) stay as they
are: only Django's state changes (SeparateDatabaseAndState), plus the content type, renamed so
that staff permissions and admin history follow the model. forge/migrations/0003 removes the
model from the `forge` state after this one has added it here.
"""

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def content_type_follows(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="audit", model="staffaction").exists():
        ContentType.objects.filter(app_label="forge", model="staffaction").update(app_label="audit")


def content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="forge", model="staffaction").exists():
        ContentType.objects.filter(app_label="audit", model="staffaction").update(app_label="forge")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        ("forge", "0002_staff_action_append_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="StaffAction",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        (
                            "action",
                            models.CharField(
                                choices=[
                                    ("deposit.confirm", "Deposit confirmed"),
                                    ("deposit.reject", "Deposit rejected"),
                                    ("withdrawal.sent", "Withdrawal marked sent"),
                                    ("withdrawal.reject", "Withdrawal rejected"),
                                    ("submission.score_override", "Score overridden"),
                                    ("ambassador.tier", "Ambassador tier set"),
                                    ("commission_tier.update", "Commission tier changed"),
                                    ("factory.force_close", "Factory force-closed"),
                                ],
                                db_index=True,
                                max_length=64,
                            ),
                        ),
                        ("object_type", models.CharField(max_length=100)),
                        ("object_id", models.CharField(max_length=64)),
                        ("object_repr", models.CharField(blank=True, max_length=200)),
                        ("before", models.JSONField(default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                        ("after", models.JSONField(default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                        ("reason", models.TextField(blank=True)),
                        (
                            "actor",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "forge_staffaction",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["object_type", "object_id"], name="forge_staff_object__7ca095_idx")
                        ],
                    },
                ),
            ],
            database_operations=[migrations.RunPython(content_type_follows, content_type_back)],
        ),
    ]
