"""ETH is the EVM chain's native coin (no contract). ERC-20 tokens are added by staff in the
admin (Chain assets), with their contract address."""

from django.db import migrations


def seed(apps, schema_editor):
    Token = apps.get_model("ledger", "Token")
    ChainAsset = apps.get_model("chain", "ChainAsset")
    eth = Token.objects.filter(symbol="ETH", chain="evm").first()
    if eth is not None:
        ChainAsset.objects.get_or_create(token=eth, defaults={"contract_address": ""})


class Migration(migrations.Migration):
    dependencies = [("chain", "0002_evm_deposits"), ("ledger", "0003_seed_tokens")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
