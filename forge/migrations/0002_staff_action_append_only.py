"""The staff audit trail is append-only in PostgreSQL itself: UPDATE and DELETE raise, whatever
code runs against the database (the same guarantee as the ledger's, ledger 0002)."""

from django.db import migrations

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION forge_staffaction_forbid_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the staff audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER forge_staffaction_append_only
    BEFORE UPDATE OR DELETE ON forge_staffaction
    FOR EACH ROW EXECUTE FUNCTION forge_staffaction_forbid_change();
"""

DROP = """
DROP TRIGGER IF EXISTS forge_staffaction_append_only ON forge_staffaction;
DROP FUNCTION IF EXISTS forge_staffaction_forbid_change();
"""


def forwards(apps, schema_editor):
    schema_editor.execute(APPEND_ONLY, params=None)


def backwards(apps, schema_editor):
    schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("forge", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
