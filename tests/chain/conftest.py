"""Fixtures shared by the chain tests."""

from __future__ import annotations

import json

import pytest

from chain.signer import solana_signer_load
from ledger.models import Token
from tests.chain.solana_svm import SvmCluster


@pytest.fixture
def payout_cluster(settings, tmp_path):
    """LiteSVM with USDC (6) and CLONES (9) mints and a hot wallet holding 5 SOL and 1000 of
    each token, its key in a secret file (Solana CLI keypair JSON)."""
    cluster = SvmCluster()
    cluster.usdc = cluster.create_mint(6)
    cluster.clones = cluster.create_mint(9)
    cluster.hot = cluster.wallet(sol=5)
    for mint, decimals in ((cluster.usdc, 6), (cluster.clones, 9)):
        cluster.mint_to(mint, str(cluster.hot.pubkey()), 1000 * 10**decimals)
    key_file = tmp_path / "solana-hot-wallet.json"
    key_file.write_text(json.dumps(list(bytes(cluster.hot))))
    key_file.chmod(0o600)
    settings.FORGE_SOLANA_MINTS = {"USDC": cluster.usdc, "CLONES": cluster.clones}
    settings.FORGE_SOLANA_PAYOUTS_ENABLED = True
    settings.FORGE_SOLANA_HOT_WALLET_KEY_FILE = str(key_file)
    settings.FORGE_SOLANA_HOT_WALLET_KEY = ""
    Token.objects.filter(symbol="CLONES").update(decimals=9, enabled=True)
    cluster.signer = solana_signer_load()
    cluster.finalize()  # the setup is history
    return cluster
