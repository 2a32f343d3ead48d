"""Payouts sent by the system on Solana, exactly once (issue 18 point 3), against a real Solana
runtime in process (solders' LiteSVM with the SPL Token-2022 and associated token account
programs, tests/chain/solana_svm.py): SOL and SPL (USDC 6 decimals, CLONES 9) withdrawals
stored signed (with their blockhash and last valid block height) before they are sent,
recorded sent only at `finalized`; a run stopped after signing (before the send) and after the
send (before recording it), then a real second run: exactly one transfer; a transaction whose
blockhash expired with its signature absent is re-signed once; a failed transfer returns the
money through the ledger; approval holds a withdrawal; the key comes from a file or the
environment.

LiteSVM lives in this process, so the stop is played by a source whose `send` raises a
BaseException (as a SIGKILL would end the process: nothing after it runs, nothing is caught)
before or after it hands the bytes to the runtime; the EVM tests kill a real process."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models.functions import Now
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from accounts.services import withdrawal_approve, withdrawal_request
from chain.locks import payout_run_lease
from chain.models import PayoutRunLease, SolanaPayout
from chain.services.solana_payouts import PayoutRpc, solana_payouts_run
from chain.signer import solana_hot_wallet_check, solana_signer_load
from ledger.models import Account, Token
from tests.chain.processes import shell_process
from tests.chain.solana_rpc_bridge import RpcBridge, bridge_serving
from tests.chain.solana_svm import SOL, SvmCluster, TokenBuild
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, withdrawal_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cluster(settings, tmp_path):
    return payout_cluster(settings, tmp_path)


def payout_cluster(settings, tmp_path, token_build: TokenBuild = TokenBuild.TOKEN_2022) -> SvmCluster:
    """LiteSVM with USDC (6) and CLONES (9) mints under `token_build` and a hot wallet holding
    5 SOL and 1000 of each token, its key in a secret file (Solana CLI keypair JSON)."""
    cluster = SvmCluster(token_build)
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


def token(symbol: str) -> Token:
    return Token.objects.get(symbol=symbol)


def paid_farmer(symbol: str = "SOL"):
    """A farmer holding 0.162 of `symbol` from settled work, with a linked Solana wallet."""
    farmer = FarmerFactory()
    settle(funded_factory(CreatorFactory(), token=symbol, reward="0.2", deposit="10"), farmer, "0.9")
    return farmer, withdrawal_wallet(farmer, chain="solana")


def balance(user, symbol: str) -> int:
    return int(
        Account.objects.get(holder=f"user:{user.pk}", kind=Account.Kind.USER_BALANCE, token=token(symbol)).balance
    )


def run(cluster, source=None, **kwargs):
    report = solana_payouts_run(source=source or cluster, signer=cluster.signer, **kwargs)
    assert not report.busy
    return report


def landed_to(cluster, address: str) -> list[str]:
    """Signatures of the successful hot-wallet transactions naming `address` (the recipient or
    its token account)."""
    hot = cluster.hot.pubkey()
    keys = {Pubkey.from_string(address)}
    return [
        sig
        for sig, _, failed, tx in cluster.history
        if not failed and tx.message.account_keys[0] == hot and keys & set(tx.message.account_keys)
    ]


def received(cluster, owner: str, mint: str) -> int:
    return cluster.balance(owner, mint)


def test_a_sol_withdrawal_is_stored_signed_then_sent_and_recorded_sent_at_finalized(cluster):
    farmer, address = paid_farmer("SOL")
    withdrawal = withdrawal_request(user=farmer, token=token("SOL"), amount="0.1", address=address)

    report = run(cluster)
    assert (report.signed, report.sent) == (1, 1)
    payout = SolanaPayout.objects.get()
    blockhash, last_valid = cluster.latest_blockhash()
    assert (payout.withdrawal, payout.to_address, int(payout.amount), payout.mint) == (
        withdrawal,
        address,
        SOL // 10,
        "",
    )
    assert (payout.recent_blockhash, payout.last_valid_block_height) == (blockhash, last_valid)
    stored = Transaction.from_bytes(base64.b64decode(payout.raw_tx))
    assert str(stored.signatures[0]) == payout.signature and str(stored.message.recent_blockhash) == blockhash
    assert payout.status == "broadcast"
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sending"
    assert received(cluster, address, "") == SOL // 10  # the user receives the exact amount

    # Landed but not finalized: still sending, no ledger movement; re-sent as is, harmlessly.
    report = run(cluster)
    assert (report.confirmed, report.resent, report.signed) == (0, 1, 0)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sending"

    cluster.finalize()
    assert run(cluster).confirmed == 1
    payout.refresh_from_db()
    withdrawal.refresh_from_db()
    assert (payout.status, withdrawal.status, withdrawal.chain_ref) == ("confirmed", "sent", payout.signature)
    assert withdrawal.processed_by is None  # the system, not staff
    assert run(cluster).confirmed == 0  # once
    assert landed_to(cluster, address) == [payout.signature]
    assert received(cluster, address, "") == SOL // 10
    assert balance(farmer, "SOL") == 62 * 10**6
    assert_audit_clean()


@pytest.mark.parametrize(("symbol", "units"), [("USDC", 100_000), ("CLONES", 10**8)])
def test_an_spl_withdrawal_creates_the_token_account_and_pays_the_exact_units_once(cluster, symbol, units):
    mint = cluster.usdc if symbol == "USDC" else cluster.clones
    farmer, address = paid_farmer(symbol)
    withdrawal = withdrawal_request(user=farmer, token=token(symbol), amount="0.1", address=address)
    assert received(cluster, address, mint) == 0  # no token account yet

    assert run(cluster).signed == 1
    payout = SolanaPayout.objects.get()
    assert (payout.mint, int(payout.amount)) == (mint, units)
    assert received(cluster, address, mint) == units
    cluster.finalize()
    assert run(cluster).confirmed == 1
    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.chain_ref) == ("sent", payout.signature)
    assert run(cluster).signed == 0
    assert received(cluster, address, mint) == units
    assert received(cluster, str(cluster.hot.pubkey()), mint) == 1000 * 10 ** token(symbol).decimals - units
    assert_audit_clean()


def test_a_withdrawal_waits_pending_while_the_hot_wallet_holds_too_little(cluster):
    farmer, address = paid_farmer("USDC")
    # Empty the hot wallet's USDC but 50_000 units.
    cluster.pay_token(cluster.hot, cluster.usdc, str(Keypair().pubkey()), 1000 * 10**6 - 50_000, 6)
    withdrawal = withdrawal_request(user=farmer, token=token("USDC"), amount="0.1", address=address)
    report = run(cluster)
    assert report.signed == 0 and "too little USDC" in " ".join(report.waiting)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "pending" and not SolanaPayout.objects.exists()
    cluster.mint_to(cluster.usdc, str(cluster.hot.pubkey()), 60_000)
    assert run(cluster).signed == 1
    cluster.finalize()
    run(cluster)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent" and received(cluster, address, cluster.usdc) == 100_000
    assert_audit_clean()


def test_a_token_withdrawal_waits_while_the_hot_wallet_lacks_sol_for_the_fee_and_the_account_rent(cluster):
    farmer, address = paid_farmer("USDC")
    cluster.pay_sol(cluster.hot, str(Keypair().pubkey()), 5 * SOL - 1_000_000)  # 0.001 SOL left
    withdrawal = withdrawal_request(user=farmer, token=token("USDC"), amount="0.1", address=address)
    report = run(cluster)
    assert report.signed == 0 and "too little SOL" in " ".join(report.waiting)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "pending"
    cluster.svm.airdrop(cluster.hot.pubkey(), SOL)
    assert run(cluster).signed == 1
    cluster.finalize()
    run(cluster)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent" and received(cluster, address, cluster.usdc) == 100_000
    assert_audit_clean()


def test_two_equal_withdrawals_under_one_blockhash_are_two_transfers(cluster):
    """Same recipient, amount and blockhash: the payout's own reference keeps the signatures apart."""
    farmer, address = paid_farmer("SOL")
    first = withdrawal_request(user=farmer, token=token("SOL"), amount="0.05", address=address)
    second = withdrawal_request(user=farmer, token=token("SOL"), amount="0.05", address=address)
    assert run(cluster).signed == 2
    cluster.finalize()
    assert run(cluster).confirmed == 2
    payouts = SolanaPayout.objects.order_by("pk")
    assert [p.withdrawal_id for p in payouts] == [first.pk, second.pk]
    assert len({p.recent_blockhash for p in payouts}) == 1 and len({p.signature for p in payouts}) == 2
    assert received(cluster, address, "") == SOL // 10
    assert len(landed_to(cluster, address)) == 2
    assert_audit_clean()


def test_a_creators_refund_is_paid_by_the_system_in_the_same_batch_as_a_farmers_earnings(cluster):
    from pools.services.factories import factory_close

    creator = CreatorFactory()
    factory = funded_factory(creator, token="USDC", reward="0.2", deposit="1")
    factory_close(factory=factory, actor=creator)  # 1 USDC back to the creator's balance
    creator_address = withdrawal_wallet(creator, chain="solana")
    refund = withdrawal_request(user=creator, token=token("USDC"), amount="0.7", address=creator_address)
    farmer, farmer_address = paid_farmer("USDC")
    earnings = withdrawal_request(user=farmer, token=token("USDC"), amount="0.05", address=farmer_address)

    assert run(cluster).signed == 2
    cluster.finalize()
    assert run(cluster).confirmed == 2
    refund.refresh_from_db()
    earnings.refresh_from_db()
    assert (refund.status, earnings.status) == ("sent", "sent")
    assert received(cluster, creator_address, cluster.usdc) == 700_000
    assert received(cluster, farmer_address, cluster.usdc) == 50_000
    assert balance(creator, "USDC") == 300_000
    assert_audit_clean()


# ---- Stopped around the send, then a real second run ---------------------------------------------


class Killed(BaseException):
    """The process ends here: nothing after it runs, no `except Exception` catches it."""


class StoppingSource:
    """The cluster, except that the first `send` stops the run before the bytes reach the
    runtime ("before") or after the runtime executed them ("after")."""

    def __init__(self, cluster, moment: str):
        self.cluster, self.moment, self.stopped_with = cluster, moment, None

    def __getattr__(self, name):
        return getattr(self.cluster, name)

    def send_transaction(self, raw: bytes) -> str:
        self.stopped_with = raw
        if self.moment == "after":
            self.cluster.send_transaction(raw)
        raise Killed


def stopped_run(cluster, moment: str) -> bytes:
    source = StoppingSource(cluster, moment)
    with pytest.raises(Killed):
        solana_payouts_run(source=source, signer=cluster.signer)
    # A killed process's session lock goes with its connection; here the lock's `finally` ran.
    return source.stopped_with


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_run_stopped_around_the_send_pays_exactly_once(cluster, moment):
    farmer, address = paid_farmer("SOL")
    withdrawal = withdrawal_request(user=farmer, token=token("SOL"), amount="0.1", address=address)

    raw = stopped_run(cluster, moment)
    # Stored before sent: the signed bytes and their blockhash are committed already.
    payout = SolanaPayout.objects.get()
    assert (payout.status, base64.b64decode(payout.raw_tx)) == ("signed", raw)
    assert len(landed_to(cluster, address)) == (0 if moment == "before" else 1)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sending"
    assert_audit_clean()

    report = run(cluster)  # the blockhash is still valid: the same bytes again, nothing new
    assert (report.signed, report.dead, report.resent) == (0, 0, 1)
    cluster.finalize()
    assert run(cluster).confirmed == 1
    payout.refresh_from_db()
    withdrawal.refresh_from_db()
    assert (payout.status, withdrawal.status, withdrawal.chain_ref) == ("confirmed", "sent", payout.signature)
    assert SolanaPayout.objects.count() == 1
    assert landed_to(cluster, address) == [payout.signature]  # exactly one transfer
    assert received(cluster, address, "") == SOL // 10
    assert balance(farmer, "SOL") == 62 * 10**6
    assert_audit_clean()


def test_a_transaction_whose_blockhash_expired_unsent_is_re_signed_once(cluster):
    farmer, address = paid_farmer("USDC")
    withdrawal = withdrawal_request(user=farmer, token=token("USDC"), amount="0.1", address=address)
    stopped_run(cluster, "before")
    old = SolanaPayout.objects.get()

    # Some blocks pass, the blockhash still valid at the finalized height: never re-signed.
    cluster.advance(old.last_valid_block_height - cluster.svm.get_clock().slot)
    assert cluster.block_height() == old.last_valid_block_height  # the last block it may land in
    report = run(cluster)
    assert (report.dead, report.signed, report.resent) == (0, 0, 1)
    assert not landed_to(cluster, address)

    # Past its last valid block height at `finalized`, its signature absent: dead, re-signed once.
    cluster.advance(1)
    report = run(cluster)
    assert (report.dead, report.signed, report.sent) == (1, 1, 1)
    old.refresh_from_db()
    new = SolanaPayout.objects.exclude(pk=old.pk).get()
    assert old.status == "dead" and "blockhash expired" in old.note
    assert new.recent_blockhash != old.recent_blockhash and new.signature != old.signature
    assert new.last_valid_block_height > old.last_valid_block_height
    assert run(cluster).signed == 0  # once
    cluster.finalize()
    assert run(cluster).confirmed == 1
    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.chain_ref) == ("sent", new.signature)
    assert landed_to(cluster, address) == [new.signature]
    assert received(cluster, address, cluster.usdc) == 100_000
    assert_audit_clean()


def test_a_landed_transaction_is_never_declared_dead(cluster):
    """Its blockhash long expired, but its signature is there: settled, not replaced."""
    farmer, address = paid_farmer("SOL")
    withdrawal_request(user=farmer, token=token("SOL"), amount="0.1", address=address)
    stopped_run(cluster, "after")
    cluster.advance(1000)

    class Lagging:  # a node whose status cache is behind: it knows the signature, not yet as final
        def __getattr__(self, name):
            return getattr(cluster, name)

        def statuses(self, signatures):
            return dict.fromkeys(signatures, "confirmed")

    report = run(cluster, Lagging())
    assert (report.dead, report.signed, report.resent) == (0, 0, 1)
    report = run(cluster)
    assert (report.dead, report.signed, report.confirmed) == (0, 0, 1)
    assert received(cluster, address, "") == SOL // 10 and SolanaPayout.objects.count() == 1
    assert_audit_clean()


# ---- Failure, approval, the key, the lock ---------------------------------------------------------


def test_a_transfer_that_fails_on_chain_returns_the_money_through_the_ledger(cluster):
    """0.0001 SOL to an empty account is below the rent-exempt minimum: the runtime fails it."""
    farmer, address = paid_farmer("SOL")
    withdrawal = withdrawal_request(user=farmer, token=token("SOL"), amount="0.0001", address=address)
    assert balance(farmer, "SOL") == 162 * 10**6 - 100_000
    assert run(cluster).sent == 1
    cluster.finalize()
    report = run(cluster)
    assert (report.failed, report.confirmed, report.signed) == (1, 0, 0)
    withdrawal.refresh_from_db()
    payout = SolanaPayout.objects.get()
    assert (payout.status, withdrawal.status, withdrawal.chain_ref) == ("failed", "rejected", payout.signature)
    assert balance(farmer, "SOL") == 162 * 10**6
    assert received(cluster, address, "") == 0
    assert run(cluster).signed == 0  # a rejected withdrawal is not paid again
    assert_audit_clean()


def test_a_withdrawal_waiting_for_approval_is_not_paid_until_staff_approve(cluster, settings):
    settings.FORGE_WITHDRAWAL_APPROVAL_ABOVE = {"SOL": "0.05"}
    farmer, address = paid_farmer("SOL")
    withdrawal = withdrawal_request(user=farmer, token=token("SOL"), amount="0.1", address=address)
    assert withdrawal.status == "approval"
    assert run(cluster).signed == 0 and not SolanaPayout.objects.exists()
    withdrawal_approve(withdrawal=withdrawal, actor=StaffFactory())
    assert run(cluster).signed == 1
    cluster.finalize()
    run(cluster)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent" and received(cluster, address, "") == SOL // 10
    assert_audit_clean()


def test_the_hot_wallet_key_comes_from_a_file_or_the_environment_never_shown(settings, tmp_path):
    key = Keypair()
    settings.FORGE_SOLANA_PAYOUTS_ENABLED = True
    settings.FORGE_SOLANA_HOT_WALLET_KEY_FILE = ""
    settings.FORGE_SOLANA_HOT_WALLET_KEY = str(key)  # base58 of the 64 bytes
    signer = solana_signer_load()
    assert signer.address == str(key.pubkey()) and repr(signer) == f"<SolanaKeySigner {key.pubkey()}>"

    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(list(bytes(key))))
    settings.FORGE_SOLANA_HOT_WALLET_KEY_FILE = str(key_file)
    settings.FORGE_SOLANA_HOT_WALLET_KEY = "not a key"  # the file wins
    assert solana_signer_load().address == str(key.pubkey())

    key_file.write_text("[1, 2, 3]")
    with pytest.raises(ImproperlyConfigured, match="not a 64-byte keypair") as error:
        solana_hot_wallet_check()
    assert str(key) not in str(error.value)
    settings.FORGE_SOLANA_HOT_WALLET_KEY_FILE = str(tmp_path / "missing.json")
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        solana_hot_wallet_check()
    settings.FORGE_SOLANA_HOT_WALLET_KEY_FILE = ""
    settings.FORGE_SOLANA_HOT_WALLET_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="neither"):
        solana_hot_wallet_check()
    settings.FORGE_SOLANA_PAYOUTS_ENABLED = False
    solana_hot_wallet_check()  # off: nothing to load


def test_a_process_refuses_to_start_with_solana_payouts_enabled_and_no_key(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "forge.settings.test", "FORGE_SOLANA_PAYOUTS_ENABLED": "true"}
    env.pop("FORGE_SOLANA_HOT_WALLET_KEY_FILE", None)
    env.pop("FORGE_SOLANA_HOT_WALLET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "FORGE_SOLANA_PAYOUTS_ENABLED is on but neither" in result.stderr

    key = Keypair()
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(list(bytes(key))))
    env["FORGE_SOLANA_HOT_WALLET_KEY_FILE"] = str(key_file)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_second_payout_run_skips_while_one_holds_the_lease_and_signs_nothing(cluster):
    from tests.chain.leases import lease_held_elsewhere

    farmer, address = paid_farmer("SOL")
    withdrawal_request(user=farmer, token=token("SOL"), amount="0.1", address=address)
    with lease_held_elsewhere("solana"):  # another process's run, in effect
        report = solana_payouts_run(source=cluster, signer=cluster.signer)
        assert report.busy and report.signed == 0 and not SolanaPayout.objects.exists()
    report = solana_payouts_run(source=cluster, signer=cluster.signer)  # released: at once
    assert not report.busy and report.signed == 1
    with payout_run_lease("solana") as lease:
        assert lease is not None  # the run released it


# ---- What staff and users see ---------------------------------------------------------------------


def test_the_withdrawal_form_says_who_sends_solana_withdrawals_and_the_fee(cluster, settings, client):
    farmer, _ = paid_farmer("SOL")
    client.force_login(farmer)
    settings.FORGE_SOLANA_RPC_URL = "http://127.0.0.1:9/"  # configured (never called by the page)
    page = client.get("/farm/earnings/").content.decode()
    assert 'id="solana-payouts"' in page and "Network fee ≈ 0.000005 SOL" in page
    assert "Staff send Solana withdrawals" not in page

    settings.FORGE_SOLANA_PAYOUTS_ENABLED = False
    page = client.get("/farm/earnings/").content.decode()
    assert 'id="solana-payouts"' not in page and "Staff send withdrawals" in page


def test_staff_see_every_solana_payout_read_only_in_the_admin(cluster, admin_client):
    farmer, address = paid_farmer("SOL")
    withdrawal_request(user=farmer, token=token("SOL"), amount="0.1", address=address)
    run(cluster)
    payout = SolanaPayout.objects.get()
    listing = admin_client.get("/admin/chain/solanapayout/")
    assert listing.status_code == 200 and payout.signature in listing.content.decode()
    assert admin_client.get(f"/admin/chain/solanapayout/{payout.pk}/change/").status_code == 200
    assert admin_client.get("/admin/chain/solanapayout/add/").status_code == 403
    assert admin_client.post(f"/admin/chain/solanapayout/{payout.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SolanaPayout.objects.filter(pk=payout.pk).exists()


def test_the_admin_withdrawals_list_says_who_sends_solana_withdrawals(cluster, bridge, settings, admin_client):
    page = admin_client.get("/admin/accounts/withdrawal/").content.decode()
    assert "Solana withdrawals are sent by the payout system" in page
    settings.FORGE_EVM_PAYOUTS_ENABLED, settings.FORGE_EVM_RPC_URL = True, "http://127.0.0.1:1/"
    page = admin_client.get("/admin/accounts/withdrawal/").content.decode()
    assert "Solana withdrawals: sent by the payout system" in page
    settings.FORGE_SOLANA_PAYOUTS_ENABLED = False
    page = admin_client.get("/admin/accounts/withdrawal/").content.decode()
    assert "Solana withdrawals: staff send and mark them sent" in page


# ---- Over JSON-RPC, and a real process killed around the send ---------------------------------------


@pytest.fixture
def bridge(cluster, settings):
    """The cluster behind a JSON-RPC endpoint on 127.0.0.1 (tests/chain/solana_rpc_bridge.py)."""
    bridge = RpcBridge(cluster)
    with bridge_serving(bridge) as server:
        bridge.url = server.url("/")
        settings.FORGE_SOLANA_RPC_URL = bridge.url
        try:
            yield bridge
        finally:
            bridge.released.set()


@pytest.mark.parametrize("symbol", ["SOL", "USDC"])
def test_the_json_rpc_source_pays_once_over_http(cluster, bridge, symbol):
    farmer, address = paid_farmer(symbol)
    withdrawal = withdrawal_request(user=farmer, token=token(symbol), amount="0.1", address=address)
    source = PayoutRpc(bridge.url)
    assert solana_payouts_run(source=source, signer=cluster.signer).sent == 1
    assert solana_payouts_run(source=source, signer=cluster.signer).confirmed == 0
    cluster.finalize()
    assert solana_payouts_run(source=source, signer=cluster.signer).confirmed == 1
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent"
    mint = "" if symbol == "SOL" else cluster.usdc
    assert received(cluster, address, mint) == (SOL // 10 if symbol == "SOL" else 100_000)
    assert len(landed_to(cluster, address)) == 1
    assert_audit_clean()


def payout_process(url: str, key_file: str, mints: dict) -> subprocess.Popen:
    """The beat task's body in its own process, against the test database and the bridge."""
    env = {
        "FORGE_SOLANA_RPC_URL": url,
        "FORGE_SOLANA_PAYOUTS_ENABLED": "true",
        "FORGE_SOLANA_HOT_WALLET_KEY_FILE": key_file,
        "FORGE_SOLANA_HOT_WALLET_KEY": "",
        "FORGE_SOLANA_MINTS": ",".join(f"{symbol}={mint}" for symbol, mint in mints.items()),
    }
    return shell_process("from chain.tasks import solana_payouts_task; print(solana_payouts_task())", env)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_payout_process_killed_around_the_send_pays_exactly_once(cluster, bridge, settings, moment):
    """SIGKILL after signing and storing, before the bytes reach the runtime ("before"), or
    after the runtime executed them, before the process records it ("after")."""
    farmer, address = paid_farmer("USDC")
    withdrawal = withdrawal_request(user=farmer, token=token("USDC"), amount="0.1", address=address)
    bridge.hold(moment)
    process = payout_process(bridge.url, settings.FORGE_SOLANA_HOT_WALLET_KEY_FILE, settings.FORGE_SOLANA_MINTS)
    if not bridge.arrived.wait(120):
        process.kill()
        raise AssertionError(f"the payout process never sent: {process.communicate()[0].decode()[-3000:]}")
    # Stored before sent: the signed bytes and their blockhash are committed already.
    payout = SolanaPayout.objects.get()
    assert (payout.status, base64.b64decode(payout.raw_tx)) == ("signed", bridge.held_raw)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    bridge.released.set()

    assert len(landed_to(cluster, address)) == (0 if moment == "before" else 1)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sending"
    assert_audit_clean()

    # The killed process's lease still blocks the next run until its FORGE_PAYOUT_RUN_LEASE_SECONDS
    # have passed (played here: its expiry moved to now; on a real clock: test_payout_run_lease.py).
    assert solana_payouts_run(source=cluster, signer=cluster.signer).busy
    PayoutRunLease.objects.filter(name="solana").update(expires_at=Now())
    report = solana_payouts_run(source=cluster, signer=cluster.signer)
    assert (report.signed, report.resent) == (0, 1)  # never a second transaction
    cluster.finalize()
    assert run(cluster).confirmed == 1
    payout.refresh_from_db()
    withdrawal.refresh_from_db()
    assert (payout.status, withdrawal.status, withdrawal.chain_ref) == ("confirmed", "sent", payout.signature)
    assert SolanaPayout.objects.count() == 1
    assert landed_to(cluster, address) == [payout.signature]  # exactly one transfer
    assert received(cluster, address, cluster.usdc) == 100_000
    assert balance(farmer, "USDC") == 62 * 10**3
    assert_audit_clean()


def test_staff_see_the_solana_hot_wallet_balance_per_token_and_a_low_balance_alert(cluster, bridge, settings, client):
    from chain.signer import solana_hot_wallet

    settings.FORGE_SOLANA_HOT_WALLET_LOW = {"SOL": "10", "USDC": "5"}
    client.force_login(StaffFactory())
    solana_hot_wallet.cache_clear()
    try:
        page = client.get("/admin/").content.decode()
        assert 'id="solana-hot-wallet"' in page and str(cluster.hot.pubkey()) in page
        assert "Low balance: below 10 SOL" in page  # it holds 5
        assert "Low balance: below 5 USDC" not in page  # it holds 1000
        assert "1000" in page

        settings.FORGE_SOLANA_RPC_URL = "http://127.0.0.1:1/"  # a node that does not answer: said, no 500
        response = client.get("/admin/")
        assert response.status_code == 200 and "The Solana node did not answer" in response.content.decode()

        settings.FORGE_SOLANA_PAYOUTS_ENABLED = False
        assert 'id="solana-hot-wallet"' not in client.get("/admin/").content.decode()
    finally:
        solana_hot_wallet.cache_clear()


def test_the_ledger_audit_reports_a_payout_that_does_not_match_its_withdrawal(cluster):
    from ledger.audit import ledger_audit

    farmer, address = paid_farmer("SOL")
    withdrawal_request(user=farmer, token=token("SOL"), amount="0.1", address=address)
    run(cluster)
    cluster.finalize()
    run(cluster)
    assert_audit_clean()
    payout = SolanaPayout.objects.get()
    SolanaPayout.objects.filter(pk=payout.pk).update(amount=SOL // 20)  # tampered: half the amount
    assert f"finalized Solana payout {payout.pk} does not match its sent withdrawal" in ledger_audit().mismatches
