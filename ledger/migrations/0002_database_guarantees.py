"""What PostgreSQL itself guarantees about the ledger, whatever code runs against it:

1. Every transaction's entries sum to zero per token, checked at COMMIT by a deferred
   constraint trigger (so a transaction's legs can be inserted one by one).
2. Entries and transactions are append-only: UPDATE and DELETE raise.

(Non-negative balances are a CHECK constraint on the account table, in 0001.)
"""

from django.db import migrations

BALANCE_TRIGGER = """
CREATE OR REPLACE FUNCTION ledger_entry_check_balanced() RETURNS trigger AS $$
DECLARE
    unbalanced RECORD;
BEGIN
    SELECT token_id, SUM(amount) AS total INTO unbalanced
      FROM ledger_entry
     WHERE transaction_id = NEW.transaction_id
     GROUP BY token_id
    HAVING SUM(amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: token % sums to %',
            NEW.transaction_id, unbalanced.token_id, unbalanced.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_check_balanced();
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION ledger_forbid_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % on % refused (post a reversing transaction)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();

CREATE TRIGGER ledger_transaction_append_only
    BEFORE UPDATE OR DELETE ON ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
"""

DROP = """
DROP TRIGGER IF EXISTS ledger_entry_balanced ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_transaction_append_only ON ledger_transaction;
DROP FUNCTION IF EXISTS ledger_entry_check_balanced();
DROP FUNCTION IF EXISTS ledger_forbid_change();
"""


def forwards(apps, schema_editor):
    schema_editor.execute(BALANCE_TRIGGER, params=None)
    schema_editor.execute(APPEND_ONLY, params=None)


def backwards(apps, schema_editor):
    schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
