"""Export and Alert move here from pools (issue 15: datasets are a sub-domain of their own).

The tables (pools_export, pools_alert), their rows, indexes and constraints stay as they are:
only Django's state changes (SeparateDatabaseAndState), plus the content types, renamed so that
staff permissions and admin history follow the models. pools/migrations/0009 removes the
models from the pools state after this one has added them here.
"""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import datasets.models

MODELS = ("export", "alert")


def content_types_follow(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label="datasets", model=model).exists():
            ContentType.objects.filter(app_label="pools", model=model).update(app_label="datasets")


def content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label="pools", model=model).exists():
            ContentType.objects.filter(app_label="datasets", model=model).update(app_label="pools")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        ("pools", "0008_submission_fewer_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Export",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "status",
                            models.CharField(
                                choices=[("queued", "Queued"), ("running", "Running"), ("ready", "Ready"), ("failed", "Failed")],
                                default="queued",
                                max_length=16,
                            ),
                        ),
                        (
                            "progress",
                            models.PositiveSmallIntegerField(
                                default=0, validators=[django.core.validators.MaxValueValidator(100)]
                            ),
                        ),
                        (
                            "count",
                            models.PositiveIntegerField(
                                default=0, help_text="Demonstrations written so far (all of them when ready)."
                            ),
                        ),
                        ("include_attachments", models.BooleanField(default=False)),
                        ("filters", models.JSONField(blank=True, default=dict)),
                        ("file", models.FileField(blank=True, max_length=255, upload_to=datasets.models.export_upload_to)),
                        ("size", models.PositiveBigIntegerField(blank=True, null=True)),
                        ("error", models.CharField(blank=True, max_length=500)),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "factory",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="exports", to="pools.factory"
                            ),
                        ),
                        (
                            "requested_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                            ),
                        ),
                    ],
                    options={
                        "db_table": "pools_export",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["factory", "-created_at"], name="pools_expor_factory_c5d2e2_idx"),
                            models.Index(fields=["status", "heartbeat_at"], name="pools_expor_status_aef099_idx"),
                        ],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("progress__lte", 100)), name="export_progress_max_100"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Alert",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("pool_low", "Pool running low"),
                                    ("target_reached", "Target reached"),
                                    ("export_ready", "Export ready"),
                                    ("export_failed", "Export failed"),
                                ],
                                max_length=32,
                            ),
                        ),
                        ("key", models.CharField(max_length=128)),
                        ("title", models.CharField(max_length=200)),
                        ("body", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("read_at", models.DateTimeField(blank=True, null=True)),
                        ("emailed_at", models.DateTimeField(blank=True, null=True)),
                        ("email_attempts", models.PositiveSmallIntegerField(default=0)),
                        ("resolved_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "factory",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="alerts",
                                to="pools.factory",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="alerts",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "export",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="alerts",
                                to="datasets.export",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "pools_alert",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["user", "read_at", "-created_at"], name="pools_alert_user_id_40b0f0_idx")
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("resolved_at__isnull", True)),
                                fields=("key",),
                                name="alert_one_open_per_key",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[migrations.RunPython(content_types_follow, content_types_back)],
        ),
    ]
