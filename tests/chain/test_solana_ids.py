"""The Solana program ids our watcher and payouts name (chain/services/solana.py): taken from
solders where it names them, typed otherwise and checked here against the programs LiteSVM
loads and against solders' own associated-token-account derivation; and a payout refuses a
mint that no token program owns."""

from __future__ import annotations

import struct

import pytest
from solders.account import Account
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from accounts.services import withdrawal_request
from chain.models import SolanaPayout
from chain.services.solana import (
    ATA_PROGRAM,
    SYSTEM_PROGRAM,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    TOKEN_PROGRAMS,
    associated_token_address,
)
from chain.services.solana_payouts import PayoutRpc, solana_payouts_run
from tests.chain.solana_rpc_bridge import RpcBridge, bridge_serving
from tests.chain.test_solana_payouts import paid_farmer, payout_cluster, token
from tests.money_helpers import assert_audit_clean

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


@pytest.mark.parametrize("program", [SYSTEM_PROGRAM, TOKEN_PROGRAM, TOKEN_2022_PROGRAM, ATA_PROGRAM])
def test_each_typed_program_id_is_a_program_the_runtime_loads(program):
    account = LiteSVM().get_account(Pubkey.from_string(program))
    assert account is not None and account.executable, f"LiteSVM loads no program at {program}"


@pytest.mark.parametrize("program", TOKEN_PROGRAMS)
def test_our_associated_token_address_is_solders_own(program):
    owner, mint = Keypair().pubkey(), Keypair().pubkey()
    expected = get_associated_token_address(owner, mint, Pubkey.from_string(program))
    assert associated_token_address(str(owner), str(mint), program) == str(expected)


def test_a_payout_refuses_a_mint_no_token_program_owns(settings, tmp_path):
    """An account shaped like a 6-decimal mint but owned by another program, configured as USDC:
    its owner would become the token program of the payout's instructions. The withdrawal
    waits, pending, with the reason; nothing is signed or sent."""
    cluster = payout_cluster(settings, tmp_path)
    impostor, other_program = Keypair().pubkey(), Keypair().pubkey()
    data = bytearray(82)
    data[44] = 6  # decimals, where a mint keeps them
    cluster.svm.set_account(
        impostor,
        Account(lamports=10**9, data=bytes(data), owner=other_program, executable=False, rent_epoch=0),
    )
    # and the hot wallet's "token account" under that program holding 1000 of it, so that only
    # the owner's check stands between this withdrawal and a signed transaction
    hot_account = associated_token_address(str(cluster.hot.pubkey()), str(impostor), str(other_program))
    state = bytes(impostor) + bytes(cluster.hot.pubkey()) + struct.pack("<Q", 1000 * 10**6)
    state = state.ljust(108, b"\0") + b"\x01"  # initialized
    cluster.svm.set_account(
        Pubkey.from_string(hot_account),
        Account(lamports=10**9, data=state.ljust(165, b"\0"), owner=other_program, executable=False, rent_epoch=0),
    )
    settings.FORGE_SOLANA_MINTS = {**settings.FORGE_SOLANA_MINTS, "USDC": str(impostor)}
    farmer, address = paid_farmer("USDC")
    withdrawal = withdrawal_request(user=farmer, token=token("USDC"), amount="0.1", address=address)

    with bridge_serving(RpcBridge(cluster)) as server:
        source = PayoutRpc(server.url("/"))
        assert source.mint_info(str(impostor)) == (str(other_program), 6)
        assert source.balance(str(cluster.hot.pubkey()), str(impostor), str(other_program)) == 1000 * 10**6
        report = solana_payouts_run(source=source, signer=cluster.signer)

    assert (report.signed, report.sent) == (0, 0)
    assert report.waiting == [
        f"withdrawal {withdrawal.pk}: the mint of USDC belongs to {other_program}, not to a token program"
    ]
    withdrawal.refresh_from_db()
    assert withdrawal.status == "pending" and not SolanaPayout.objects.exists()
    assert_audit_clean()
