"""Close two gaps in what PostgreSQL guarantees (0002):

1. An entry's `token` (denormalised so the balance trigger can sum per token) must be its
   account's token. Without this, a raw "+10 on a SOL account, labelled USDC" entry would
   balance a USDC leg in the trigger's sum and create SOL from nothing. A composite foreign
   key (entry.account_id, entry.token_id) -> account(id, token_id) holds it; it also stops an
   account that has entries from changing token.
2. An account never changes kind: renaming "world_withdrawals" into "treasury" would move
   money without an entry, and the per-token audit equation would still hold.
   (The holder may change: pools names a new factory's accounts once the factory has an id.)
"""

from django.db import migrations

FORWARDS = """
ALTER TABLE ledger_account ADD CONSTRAINT ledger_account_id_token_key UNIQUE (id, token_id);
ALTER TABLE ledger_entry ADD CONSTRAINT ledger_entry_account_token_fk
    FOREIGN KEY (account_id, token_id) REFERENCES ledger_account (id, token_id);

CREATE OR REPLACE FUNCTION ledger_account_forbid_kind_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger account % cannot change kind (% -> %)', OLD.id, OLD.kind, NEW.kind
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_account_kind_fixed
    BEFORE UPDATE OF kind ON ledger_account
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind)
    EXECUTE FUNCTION ledger_account_forbid_kind_change();
"""

BACKWARDS = """
DROP TRIGGER IF EXISTS ledger_account_kind_fixed ON ledger_account;
DROP FUNCTION IF EXISTS ledger_account_forbid_kind_change();
ALTER TABLE ledger_entry DROP CONSTRAINT IF EXISTS ledger_entry_account_token_fk;
ALTER TABLE ledger_account DROP CONSTRAINT IF EXISTS ledger_account_id_token_key;
"""


def forwards(apps, schema_editor):
    schema_editor.execute(FORWARDS, params=None)


def backwards(apps, schema_editor):
    schema_editor.execute(BACKWARDS, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_seed_tokens")]
    operations = [migrations.RunPython(forwards, backwards)]
