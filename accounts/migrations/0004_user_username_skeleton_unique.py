"""No two users whose names look alike (a separate migration: PostgreSQL will not alter a
table in the transaction that just updated its rows when deferred triggers are pending)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_user_username_skeleton")]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="username_skeleton",
            field=models.CharField(blank=True, editable=False, max_length=600, null=True, unique=True),
        ),
    ]
