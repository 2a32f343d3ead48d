"""Deposits and payouts under the classic SPL Token program (TokenkegQ..., the program of real
USDC; issue 18), on a real runtime: LiteSVM with the classic program in both builds the pinned
solders wheel carries (tests/chain/solana_svm.py, `TokenBuild`): the original SPL Token 3.5.0
and p-token, its replacement at the same id. A USDC-like mint (6 decimals) under that program:
a Solana Pay deposit (TransferChecked, and a plain Transfer) credited exactly once, a payment
to the treasury's classic token account found through that account, and a payout that creates
the recipient's classic token account (165 bytes, derived with the classic program id) and
pays the exact units once, in process and over JSON-RPC. The ledger audit stays clean."""

from __future__ import annotations

import hashlib

import pytest
from solders.pubkey import Pubkey

from accounts.services import withdrawal_request
from chain.models import ChainTransfer, SolanaCursor, SolanaPayout
from chain.payout_selectors import solana_hot_wallet_status
from chain.services.solana import TOKEN_PROGRAM, associated_token_address, solana_watch, watched_addresses
from chain.services.solana_payouts import ACCOUNT_RENT_RESERVE, FEE_RESERVE, PayoutRpc, solana_payouts_run
from chain.signer import solana_hot_wallet
from tests.chain.solana_rpc_bridge import RpcBridge, bridge_serving
from tests.chain.solana_svm import CLASSIC_TOKEN_PROGRAM, SPL_TOKEN_3_5_SHA256, TokenBuild
from tests.chain.test_solana_deposits import deposit_cluster, deposits_of, request
from tests.chain.test_solana_payouts import landed_to, paid_farmer, payout_cluster, received, run, token
from tests.money_helpers import assert_audit_clean

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

CLASSIC_BUILDS = [TokenBuild.SPL_TOKEN_3_5, TokenBuild.P_TOKEN]
TOKEN_ACCOUNT_SIZE = 165  # the classic program's account: no extensions


@pytest.fixture(params=CLASSIC_BUILDS, ids=str)
def build(request) -> TokenBuild:
    return request.param


@pytest.fixture
def deposits(settings, build):
    return deposit_cluster(settings, build)


@pytest.fixture
def payouts(settings, tmp_path, build):
    return payout_cluster(settings, tmp_path, build)


def classic_token_account(cluster, owner: str, mint: str):
    """The owner's token account as the runtime holds it: it must be the associated address
    derived with the classic program id, owned by that program, 165 bytes."""
    address = associated_token_address(owner, mint, CLASSIC_TOKEN_PROGRAM)
    account = cluster.svm.get_account(Pubkey.from_string(address))
    assert account is not None, f"no classic token account for {owner} at {address}"
    assert (str(account.owner), len(account.data)) == (CLASSIC_TOKEN_PROGRAM, TOKEN_ACCOUNT_SIZE)
    return address


def test_the_runtime_runs_the_classic_program_in_the_build_named_at_our_id(deposits, build):
    assert TOKEN_PROGRAM == CLASSIC_TOKEN_PROGRAM  # the id our watcher and payouts know
    elf = deposits.token_program_elf()
    if build is TokenBuild.SPL_TOKEN_3_5:
        assert hashlib.sha256(elf).hexdigest() == SPL_TOKEN_3_5_SHA256
        assert b"token/program/src/processor.rs" in elf
    else:
        assert b"pinocchio" in elf and hashlib.sha256(elf).hexdigest() != SPL_TOKEN_3_5_SHA256
    mint = deposits.svm.get_account(Pubkey.from_string(deposits.usdc))
    assert (str(mint.owner), len(mint.data), bytes(mint.data)[44]) == (CLASSIC_TOKEN_PROGRAM, 82, 6)


@pytest.mark.parametrize("checked", [True, False], ids=["transferChecked", "transfer"])
def test_a_classic_usdc_deposit_is_credited_exactly_once(deposits, checked):
    intent = request("USDC", "25.5")
    payer = deposits.wallet()
    deposits.mint_to(deposits.usdc, str(payer.pubkey()), 10**9)
    signature, failed = deposits.pay_token(
        payer, deposits.usdc, deposits.treasury_address, 25_500_000, 6, reference=intent.reference, checked=checked
    )
    assert not failed
    treasury_account = classic_token_account(deposits, deposits.treasury_address, deposits.usdc)
    assert deposits.token_balance(deposits.treasury_address, deposits.usdc) == 25_500_000

    assert solana_watch(source=deposits).credited == 0  # confirmed, not final: pending
    transfer = ChainTransfer.objects.get(chain="solana", tx_hash=signature)
    assert transfer.status == ChainTransfer.Status.PENDING and transfer.intent_id == intent.pk
    # The recipient is the treasury (the owner read from the classic account), not its token account.
    assert (transfer.to_address, transfer.contract_address) == (deposits.treasury_address, deposits.usdc)
    assert transfer.to_address != treasury_account and transfer.from_address == str(payer.pubkey())

    deposits.finalize()
    assert solana_watch(source=deposits).credited == 1
    assert solana_watch(source=deposits).credited == 0
    SolanaCursor.objects.all().delete()  # from scratch: still once
    assert solana_watch(source=deposits).credited == 0
    transfer.refresh_from_db()
    deposit = deposits_of(intent).get()
    assert transfer.status == ChainTransfer.Status.CREDITED and transfer.deposit_id == deposit.pk
    assert (deposit.amount, deposit.tx_ref) == (25_500_000, f"{signature}:0")
    assert_audit_clean()


def test_a_payment_to_the_treasurys_classic_token_account_is_found_through_it(deposits):
    """No reference: only the treasury's token account names it (the treasury's own address
    is not in the transaction), so the watcher must watch the account the ATA program made."""
    treasury_account = deposits.token_account(deposits.treasury_address, deposits.usdc)
    assert classic_token_account(deposits, deposits.treasury_address, deposits.usdc) == treasury_account
    assert treasury_account in watched_addresses()
    payer = deposits.wallet()
    deposits.mint_to(deposits.usdc, str(payer.pubkey()), 10**9)
    signature, failed = deposits.pay_token(payer, deposits.usdc, deposits.treasury_address, 7_000_000, 6)
    assert not failed
    assert Pubkey.from_string(deposits.treasury_address) not in deposits.history[-1][3].message.account_keys
    deposits.finalize()

    report = solana_watch(source=deposits)
    assert (report.credited, report.unmatched) == (0, 1)
    transfer = ChainTransfer.objects.get(tx_hash=signature)
    assert transfer.status == ChainTransfer.Status.UNMATCHED
    assert transfer.reason == "no reference of an open deposit request"
    assert transfer.to_address == deposits.treasury_address and int(transfer.amount) == 7_000_000
    assert_audit_clean()


def test_a_classic_usdc_withdrawal_creates_the_classic_token_account_and_pays_once(payouts):
    farmer, address = paid_farmer("USDC")
    withdrawal = withdrawal_request(user=farmer, token=token("USDC"), amount="0.1", address=address)
    hot = str(payouts.hot.pubkey())
    assert received(payouts, address, payouts.usdc) == 0  # no token account yet
    lamports_before = received(payouts, hot, "")

    assert run(payouts).signed == 1
    recipient_account = classic_token_account(payouts, address, payouts.usdc)
    # The hot wallet paid the fee and the new account's rent, within what the run reserves.
    spent = lamports_before - received(payouts, hot, "")
    rent = payouts.svm.minimum_balance_for_rent_exemption(TOKEN_ACCOUNT_SIZE)
    assert spent == 5000 + rent <= FEE_RESERVE + ACCOUNT_RENT_RESERVE
    payout = SolanaPayout.objects.get(withdrawal=withdrawal)
    tx = payouts.history[-1][3]
    programs = {str(tx.message.account_keys[ix.program_id_index]) for ix in tx.message.instructions}
    assert CLASSIC_TOKEN_PROGRAM in programs and recipient_account in map(str, tx.message.account_keys)
    payouts.finalize()
    assert run(payouts).confirmed == 1
    assert run(payouts).signed == 0
    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.chain_ref) == ("sent", payout.signature)
    assert landed_to(payouts, address) == [payout.signature]
    assert received(payouts, address, payouts.usdc) == 100_000
    assert received(payouts, hot, payouts.usdc) == 1000 * 10**6 - 100_000
    assert_audit_clean()


def test_a_classic_usdc_withdrawal_over_json_rpc_pays_once_and_staff_see_the_balance(payouts, settings):
    """The production source (PayoutRpc) reads the mint's program from the node: the classic one."""
    farmer, address = paid_farmer("USDC")
    withdrawal = withdrawal_request(user=farmer, token=token("USDC"), amount="0.1", address=address)
    with bridge_serving(RpcBridge(payouts)) as server:
        source = PayoutRpc(server.url("/"))
        assert source.mint_info(payouts.usdc) == (CLASSIC_TOKEN_PROGRAM, 6)
        assert solana_payouts_run(source=source, signer=payouts.signer).sent == 1
        payouts.finalize()
        assert solana_payouts_run(source=source, signer=payouts.signer).confirmed == 1
        solana_hot_wallet.cache_clear()  # the key of this test's hot wallet, not a cached one
        try:
            rows = {row["symbol"]: row["balance"] for row in solana_hot_wallet_status(source=source)["rows"]}
        finally:
            solana_hot_wallet.cache_clear()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent" and len(landed_to(payouts, address)) == 1
    classic_token_account(payouts, address, payouts.usdc)
    assert received(payouts, address, payouts.usdc) == 100_000
    assert rows["USDC"] == "999.9"
    assert_audit_clean()
