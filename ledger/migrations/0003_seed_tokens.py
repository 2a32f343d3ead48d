"""The four tokens of the source text. CLONES decimals come from FORGE_CLONES_DECIMALS
(default 9, an SPL token) at the time this migration first runs."""

from django.conf import settings
from django.db import migrations

TOKENS = [
    ("CLONES", "Clones", None, "solana"),
    ("USDC", "USD Coin", 6, "solana"),
    ("SOL", "Solana", 9, "solana"),
    ("ETH", "Ether", 18, "evm"),
]


def seed(apps, schema_editor):
    Token = apps.get_model("ledger", "Token")
    for symbol, name, decimals, chain in TOKENS:
        if decimals is None:
            decimals = getattr(settings, "FORGE_CLONES_DECIMALS", 9)
        Token.objects.get_or_create(symbol=symbol, defaults={"name": name, "decimals": decimals, "chain": chain})


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_database_guarantees")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
