"""User.username_skeleton: what a username looks like (accounts/usernames.py); made unique in 0004.

Existing users keep their names. Their skeletons are filled in oldest first; when two existing
names already look alike, the later one keeps a null skeleton (the earlier one's still makes
every new look-alike unavailable)."""

from django.db import migrations, models


def fill_skeletons(apps, schema_editor):
    from accounts.usernames import username_skeleton

    User = apps.get_model("accounts", "User")
    seen = set()
    changed = []
    for user in User.objects.order_by("id").only("id", "username").iterator(chunk_size=2000):
        skeleton = username_skeleton(user.username)
        if skeleton in seen:
            continue
        seen.add(skeleton)
        user.username_skeleton = skeleton
        changed.append(user)
        if len(changed) >= 2000:
            User.objects.bulk_update(changed, ["username_skeleton"])
            changed = []
    User.objects.bulk_update(changed, ["username_skeleton"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_initial")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="username_skeleton",
            field=models.CharField(blank=True, editable=False, max_length=600, null=True),
        ),
        migrations.RunPython(fill_skeletons, migrations.RunPython.noop),
    ]
