"""Payouts sent by the system on EVM, exactly once (issue 18 point 3), against a real node
(Hardhat Network from npm, tests/chain/node.py) and the project's ERC-20 compiled by solc: signed and
stored before broadcast; confirmed after N confirmations and recorded sent through the ledger; a
process SIGKILLed after signing (before broadcast) and after broadcasting (before recording)
leaves exactly one transfer on chain; a transaction is replaced only when provably dead; a
reverted transfer returns the money; a reorg re-broadcasts the same bytes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models.functions import Now
from eth_account import Account as EthAccount

from accounts.services import withdrawal_mark_sent, withdrawal_reject, withdrawal_request
from chain.models import ChainAsset, EvmPayout, PayoutRunLease
from chain.services.payouts import evm_payouts_run
from chain.signer import LocalKeySigner, evm_hot_wallet_check, evm_signer_load
from core.exceptions import Conflict
from ledger.models import Account, Token
from tests.chain.evm import compiled_token
from tests.chain.node import CHAIN_ID, EvmNode, GateProxy
from tests.chain.processes import shell_process
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, withdrawal_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = [pytest.mark.chain]

ROOT = Path(__file__).resolve().parents[2]
CONFIRMATIONS = 3
FUNDER = EthAccount.create()
ETHER = 10**18


def key_hex(account) -> str:
    return "0x" + account.key.hex().removeprefix("0x")


@pytest.fixture(scope="module")
def node():
    node = EvmNode([(key_hex(FUNDER), 10**6 * ETHER)]).start()
    yield node
    node.stop()


@pytest.fixture
def w3(node):
    from web3 import Web3

    return Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))


@pytest.fixture
def hot(w3, tmp_path, settings):
    """A fresh hot wallet with 10 ether, its key in a secret file; settings point at the node."""
    key = EthAccount.create()
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": FUNDER.address, "to": key.address, "value": 10 * ETHER})
    )
    key_file = tmp_path / "hot-wallet.key"
    key_file.write_text(key_hex(key) + "\n")
    key_file.chmod(0o600)
    settings.FORGE_EVM_CHAIN_ID = CHAIN_ID
    settings.FORGE_EVM_CONFIRMATIONS = CONFIRMATIONS
    settings.FORGE_EVM_PAYOUTS_ENABLED = True
    settings.FORGE_EVM_HOT_WALLET_KEY_FILE = str(key_file)
    settings.FORGE_EVM_HOT_WALLET_KEY = ""
    return LocalKeySigner(key_hex(key))


def eth() -> Token:
    return Token.objects.get(symbol="ETH")


def paid_farmer(token: str = "ETH"):
    """A farmer holding 0.162 of `token` from settled work, with a linked EVM wallet."""
    farmer = FarmerFactory()
    settle(funded_factory(CreatorFactory(), token=token, reward="0.2", deposit="10"), farmer, "0.9")
    return farmer, withdrawal_wallet(farmer, chain="evm")


def balance(user, token: Token) -> int:
    return int(Account.objects.get(holder=f"user:{user.pk}", kind=Account.Kind.USER_BALANCE, token=token).balance)


def ether_asset():
    ChainAsset.objects.get_or_create(token=eth(), defaults={"contract_address": ""})


def run(w3, hot, **kwargs):
    report = evm_payouts_run(w3=w3, signer=hot, **kwargs)
    assert not report.busy
    return report


def confirm(node, w3, hot):
    node.mine(CONFIRMATIONS)
    return run(w3, hot)


@pytest.mark.django_db
def test_an_ether_withdrawal_is_stored_signed_then_broadcast_and_recorded_sent_after_n_confirmations(node, w3, hot):
    ether_asset()
    farmer, address = paid_farmer()
    withdrawal = withdrawal_request(user=farmer, token=eth(), amount="0.1", address=address)

    report = run(w3, hot)
    assert (report.signed, report.broadcast) == (1, 1)
    payout = EvmPayout.objects.get()
    assert (payout.withdrawal, payout.nonce, payout.to_address, int(payout.amount)) == (
        withdrawal,
        0,
        address,
        ETHER // 10,
    )
    assert payout.status == "broadcast" and payout.raw_tx.startswith("0x")
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sending"
    assert w3.eth.get_balance(address) == ETHER // 10  # the user receives the exact amount

    # Mined at once (automine), but not yet N deep: still sending, no ledger movement.
    run(w3, hot)
    payout.refresh_from_db()
    withdrawal.refresh_from_db()
    assert (payout.status, withdrawal.status) == ("mined", "sending")

    report = confirm(node, w3, hot)
    assert report.confirmed == 1
    payout.refresh_from_db()
    withdrawal.refresh_from_db()
    assert (payout.status, withdrawal.status, withdrawal.chain_ref) == ("confirmed", "sent", payout.tx_hash)
    assert withdrawal.processed_by is None  # the system, not staff
    assert confirm(node, w3, hot).confirmed == 0  # once
    assert w3.eth.get_transaction_count(hot.address) == 1
    assert balance(farmer, eth()) == 62 * 10**15
    assert_audit_clean()


@pytest.mark.django_db
def test_staff_can_neither_mark_sent_nor_reject_a_withdrawal_the_system_is_sending(node, w3, hot):
    ether_asset()
    farmer, address = paid_farmer()
    withdrawal = withdrawal_request(user=farmer, token=eth(), amount="0.1", address=address)
    run(w3, hot)
    staff = StaffFactory()
    with pytest.raises(Conflict):
        withdrawal_mark_sent(withdrawal=withdrawal, chain_ref="0xabc", actor=staff)
    with pytest.raises(Conflict):
        withdrawal_reject(withdrawal=withdrawal, reason="no", actor=staff)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sending"
    confirm(node, w3, hot)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent"
    assert_audit_clean()


def deploy_token(w3, decimals: int = 6):
    built = compiled_token()
    contract = w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
    tx = contract.constructor("Test USD", "TUSD", decimals, 10**30).transact({"from": FUNDER.address})
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return w3.eth.contract(address=address, abi=built["abi"])


def erc20_setup(w3, hot, *, fund: int):
    token_contract = deploy_token(w3)
    token, _ = Token.objects.get_or_create(
        symbol="TUSD", defaults={"name": "Test USD", "decimals": 6, "chain": "evm", "enabled": True}
    )
    ChainAsset.objects.create(token=token, contract_address=token_contract.address)
    if fund:
        w3.eth.wait_for_transaction_receipt(
            token_contract.functions.transfer(hot.address, fund).transact({"from": FUNDER.address})
        )
    return token, token_contract


@pytest.mark.django_db
def test_an_erc20_withdrawal_is_paid_in_the_token_and_waits_while_the_hot_wallet_is_short(node, w3, hot):
    token, contract = erc20_setup(w3, hot, fund=50_000)
    farmer, address = paid_farmer("TUSD")
    withdrawal = withdrawal_request(user=farmer, token=token, amount="0.1", address=address)  # 100_000 units

    report = run(w3, hot)  # the hot wallet holds 50_000: nothing signed, the withdrawal waits
    assert report.signed == 0 and "too little TUSD" in " ".join(report.waiting)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "pending" and not EvmPayout.objects.exists()

    w3.eth.wait_for_transaction_receipt(
        contract.functions.transfer(hot.address, 60_000).transact({"from": FUNDER.address})
    )
    assert run(w3, hot).signed == 1
    confirm(node, w3, hot)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent"
    assert contract.functions.balanceOf(address).call() == 100_000
    assert contract.functions.balanceOf(hot.address).call() == 10_000
    assert_audit_clean()


@pytest.mark.django_db
def test_a_reverted_transfer_returns_the_money_through_the_ledger(node, w3, hot):
    token, contract = erc20_setup(w3, hot, fund=100_000)
    farmer, address = paid_farmer("TUSD")
    withdrawal = withdrawal_request(user=farmer, token=token, amount="0.1", address=address)
    before = balance(farmer, token)
    # A spender the hot wallet approved drains it between signing and mining: a real revert.
    spender = EthAccount.create()
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": FUNDER.address, "to": spender.address, "value": ETHER})
    )
    approve = contract.functions.approve(spender.address, 100_000).build_transaction(
        {"from": hot.address, "nonce": 0, "gas": 100_000, "gasPrice": w3.eth.gas_price, "chainId": CHAIN_ID}
    )
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(hot.sign(approve).raw))
    node.automine(False)
    try:
        report = run(w3, hot)  # signed with the balance there; sits in the pool
        assert report.signed == 1
        drain = contract.functions.transferFrom(hot.address, spender.address, 100_000).build_transaction(
            {
                "from": spender.address,
                "nonce": 0,
                "gas": 100_000,
                "gasPrice": 10 * w3.eth.gas_price,
                "chainId": CHAIN_ID,
            }
        )
        w3.eth.send_raw_transaction(spender.sign_transaction(drain).raw_transaction)
    finally:
        node.automine(True)
    node.mine(1)
    payout = EvmPayout.objects.get()
    assert w3.eth.get_transaction_receipt(payout.tx_hash)["status"] == 0

    report = confirm(node, w3, hot)
    assert report.failed == 1 and report.signed == 0
    payout.refresh_from_db()
    withdrawal.refresh_from_db()
    assert (payout.status, withdrawal.status) == ("failed", "rejected")
    assert "failed on chain" in withdrawal.reject_reason
    assert balance(farmer, token) == before + 100_000
    assert contract.functions.balanceOf(address).call() == 0
    assert_audit_clean()


@pytest.mark.django_db
def test_a_transaction_is_replaced_only_when_its_nonce_was_used_by_another(node, w3, hot):
    ether_asset()
    farmer, address = paid_farmer()
    withdrawal = withdrawal_request(user=farmer, token=eth(), amount="0.1", address=address)
    proxy = GateProxy(node.url).start()
    try:
        proxy.hold("before")  # signed and stored; the broadcast never reaches the node
        from web3 import Web3

        blocked = Web3(Web3.HTTPProvider(proxy.url, request_kwargs={"timeout": 3}, exception_retry_configuration=None))
        report = run(blocked, hot)  # the broadcast times out: in doubt, left `signed`
        assert (report.signed, report.broadcast) == (1, 0)
    finally:
        proxy.stop()
    old = EvmPayout.objects.get()
    assert old.status == "signed" and old.nonce == 0

    # In doubt, not dead: nonce 0 is unused, so the next run re-broadcasts the same bytes...
    # unless someone used nonce 0 meanwhile (staff with the same key, say): then it is dead,
    # but only once that is N blocks deep.
    elsewhere = {"to": FUNDER.address, "value": 1, "nonce": 0, "gas": 21_000, "gasPrice": w3.eth.gas_price}
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(hot.sign(elsewhere | {"chainId": CHAIN_ID}).raw))
    report = run(w3, hot)
    old.refresh_from_db()
    assert old.status in ("signed", "broadcast") and report.dead == 0 and report.signed == 0

    node.mine(CONFIRMATIONS)
    report = run(w3, hot)
    old.refresh_from_db()
    assert (report.dead, report.signed, old.status) == (1, 1, "dead")
    new = EvmPayout.objects.exclude(pk=old.pk).get()
    assert (new.withdrawal_id, new.nonce) == (withdrawal.pk, 1)
    confirm(node, w3, hot)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent" and withdrawal.chain_ref == new.tx_hash
    assert w3.eth.get_balance(address) == ETHER // 10  # one transfer to the user
    assert_audit_clean()


@pytest.mark.django_db
def test_a_reorg_before_confirmation_rebroadcasts_the_same_bytes_and_pays_once(node, w3, hot):
    ether_asset()
    farmer, address = paid_farmer()
    withdrawal = withdrawal_request(user=farmer, token=eth(), amount="0.1", address=address)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    run(w3, hot)
    run(w3, hot)
    payout = EvmPayout.objects.get()
    assert payout.status == "mined"
    w3.provider.make_request("evm_revert", [snapshot])  # the block with the transfer is gone
    assert w3.eth.get_balance(address) == 0

    report = run(w3, hot)
    payout.refresh_from_db()
    assert report.rebroadcast == 1 and report.signed == 0
    confirm(node, w3, hot)
    payout.refresh_from_db()
    withdrawal.refresh_from_db()
    assert (payout.status, withdrawal.status, EvmPayout.objects.count()) == ("confirmed", "sent", 1)
    assert w3.eth.get_balance(address) == ETHER // 10
    assert_audit_clean()


# ---- A real process killed around the broadcast -----------------------------------------------


def payout_process(proxy_url: str, key_file: str) -> subprocess.Popen:
    """The beat task's body in its own process, against the test database and the proxy."""
    env = {
        "FORGE_EVM_RPC_URL": proxy_url,
        "FORGE_EVM_PAYOUTS_ENABLED": "true",
        "FORGE_EVM_HOT_WALLET_KEY_FILE": key_file,
        "FORGE_EVM_HOT_WALLET_KEY": "",
        "FORGE_EVM_CHAIN_ID": str(CHAIN_ID),
        "FORGE_EVM_CONFIRMATIONS": str(CONFIRMATIONS),
    }
    return shell_process("from chain.tasks import evm_payouts_task; print(evm_payouts_task())", env)


def run_after_the_killed_runs_lease(w3, hot):
    """The killed run's lease still blocks the next run; once its FORGE_PAYOUT_RUN_LEASE_SECONDS
    have passed (played here: its expiry moved to now, not 300 s waited), a run proceeds. The
    expiry itself, on a real clock: tests/chain/test_payout_run_lease.py."""
    assert evm_payouts_run(w3=w3, signer=hot).busy
    PayoutRunLease.objects.filter(name="evm").update(expires_at=Now())
    return evm_payouts_run(w3=w3, signer=hot)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_payout_process_killed_around_the_broadcast_pays_exactly_once(node, w3, hot, settings, moment):
    """SIGKILL after signing and storing, before the broadcast reaches the node ("before"), or
    after the node accepted it, before the process records it ("after")."""
    ether_asset()
    farmer, address = paid_farmer()
    withdrawal = withdrawal_request(user=farmer, token=eth(), amount="0.1", address=address)
    proxy = GateProxy(node.url).start()
    try:
        proxy.hold(moment)
        process = payout_process(proxy.url, settings.FORGE_EVM_HOT_WALLET_KEY_FILE)
        if not proxy.arrived.wait(120):
            process.kill()
            raise AssertionError(f"the payout process never broadcast: {process.communicate()[0].decode()[-3000:]}")
        # Stored before broadcast: the signed bytes and their nonce are committed already.
        payout = EvmPayout.objects.get()
        assert (payout.status, payout.nonce, payout.raw_tx) == ("signed", 0, proxy.held_raw)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
    finally:
        proxy.stop()

    on_chain = w3.eth.get_transaction_count(hot.address)
    assert on_chain == (0 if moment == "before" else 1)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sending"
    assert_audit_clean()

    report = run_after_the_killed_runs_lease(w3, hot)
    assert report.signed == 0  # never a second transaction for the same withdrawal
    run(w3, hot)
    confirm(node, w3, hot)
    payout.refresh_from_db()
    withdrawal.refresh_from_db()
    assert (payout.status, withdrawal.status, withdrawal.chain_ref) == ("confirmed", "sent", payout.tx_hash)
    assert EvmPayout.objects.count() == 1
    assert w3.eth.get_transaction_count(hot.address) == 1  # exactly one transaction from the hot wallet
    assert w3.eth.get_balance(address) == ETHER // 10  # exactly one transfer to the user
    assert balance(farmer, eth()) == 62 * 10**15
    assert_audit_clean()


# ---- The signer's key ----------------------------------------------------------------------------


def test_the_hot_wallet_key_comes_from_a_file_or_the_environment_never_shown(settings, tmp_path):
    key = EthAccount.create()
    settings.FORGE_EVM_PAYOUTS_ENABLED = True
    settings.FORGE_EVM_HOT_WALLET_KEY_FILE = ""
    settings.FORGE_EVM_HOT_WALLET_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="has no key"):
        evm_hot_wallet_check()
    settings.FORGE_EVM_HOT_WALLET_KEY_FILE = str(tmp_path / "missing")
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        evm_hot_wallet_check()
    (tmp_path / "bad").write_text("not a key")
    settings.FORGE_EVM_HOT_WALLET_KEY_FILE = str(tmp_path / "bad")
    with pytest.raises(ImproperlyConfigured, match="not 32 bytes") as error:
        evm_hot_wallet_check()
    assert "not a key" not in str(error.value)
    (tmp_path / "good").write_text(key.key.hex())
    settings.FORGE_EVM_HOT_WALLET_KEY_FILE = str(tmp_path / "good")
    signer = evm_signer_load()
    assert signer.address == key.address and key.key.hex().removeprefix("0x") not in repr(signer)
    settings.FORGE_EVM_HOT_WALLET_KEY_FILE = ""
    settings.FORGE_EVM_HOT_WALLET_KEY = key.key.hex()
    assert evm_signer_load().address == key.address
    settings.FORGE_EVM_PAYOUTS_ENABLED = False
    settings.FORGE_EVM_HOT_WALLET_KEY = ""
    evm_hot_wallet_check()  # payouts off: no key needed


def test_a_process_refuses_to_start_with_payouts_enabled_and_no_key():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "forge.settings.test", "FORGE_EVM_PAYOUTS_ENABLED": "true"}
    env.pop("FORGE_EVM_HOT_WALLET_KEY_FILE", None)
    env.pop("FORGE_EVM_HOT_WALLET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "FORGE_EVM_PAYOUTS_ENABLED is on but the hot wallet has no key" in result.stderr


@pytest.mark.django_db
def test_a_withdrawal_waiting_for_approval_is_not_paid_until_staff_approve(node, w3, hot, settings):
    from accounts.services import withdrawal_approve

    settings.FORGE_WITHDRAWAL_APPROVAL_ABOVE = {"ETH": "0.05"}
    ether_asset()
    farmer, address = paid_farmer()
    withdrawal = withdrawal_request(user=farmer, token=eth(), amount="0.1", address=address)
    assert withdrawal.status == "approval"
    assert run(w3, hot).signed == 0 and not EvmPayout.objects.exists()
    withdrawal_approve(withdrawal=withdrawal, actor=StaffFactory())
    assert run(w3, hot).signed == 1
    confirm(node, w3, hot)
    withdrawal.refresh_from_db()
    assert withdrawal.status == "sent" and w3.eth.get_balance(address) == ETHER // 10
    assert_audit_clean()


# ---- What staff and users see --------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_see_the_hot_wallet_balance_per_token_and_a_low_balance_alert(node, w3, hot, settings, client):
    from django.core.cache import cache

    erc20_setup(w3, hot, fund=2_500_000)  # 2.5 TUSD
    ether_asset()
    settings.FORGE_EVM_RPC_URL = node.url
    settings.FORGE_EVM_HOT_WALLET_LOW = {"ETH": "1", "TUSD": "5"}
    cache.clear()
    from chain.signer import evm_hot_wallet

    evm_hot_wallet.cache_clear()
    client.force_login(StaffFactory())
    page = client.get("/admin/").content.decode()
    evm_hot_wallet.cache_clear()
    assert hot.address in page
    assert "Low balance: below 5 TUSD" in page  # 2.5 < 5
    assert "2.5" in page and "10" in page  # TUSD and ether balances
    assert "Low balance: below 1 ETH" not in page  # 10 ETH >= 1

    settings.FORGE_EVM_RPC_URL = "http://127.0.0.1:1"  # a node that does not answer: said, no 500
    cache.clear()
    response = client.get("/admin/")
    evm_hot_wallet.cache_clear()
    assert response.status_code == 200 and "The node did not answer" in response.content.decode()


@pytest.mark.django_db
def test_the_network_fee_is_shown_before_a_withdrawal_is_requested(node, w3, hot, settings, client):
    from django.core.cache import cache

    ether_asset()
    settings.FORGE_EVM_RPC_URL = node.url
    settings.FORGE_WITHDRAWAL_APPROVAL_ABOVE = {"ETH": "0.5"}
    cache.clear()
    farmer, _ = paid_farmer()
    client.force_login(farmer)
    page = client.get("/farm/earnings/").content.decode()
    from decimal import Decimal

    fee = format(Decimal(w3.eth.gas_price * 21_000) / Decimal(10**18), "f").rstrip("0")
    assert "sent by the platform" in page
    assert f"ETH ≈ {fee} ETH" in page
    assert "one withdrawal above 0.5 ETH" in page


@pytest.mark.django_db
def test_a_creators_refund_is_paid_by_the_system_in_the_same_batch_as_a_farmers_earnings(node, w3, hot):
    from pools.services.factories import factory_close

    ether_asset()
    creator = CreatorFactory()
    factory = funded_factory(creator, token="ETH", reward="0.2", deposit="1")
    factory_close(factory=factory, actor=creator)  # 1 ETH back to the creator's balance
    creator_address = withdrawal_wallet(creator, chain="evm")
    refund = withdrawal_request(user=creator, token=eth(), amount="0.7", address=creator_address)

    farmer, farmer_address = paid_farmer()
    commission = withdrawal_request(user=farmer, token=eth(), amount="0.05", address=farmer_address)

    assert run(w3, hot).signed == 2
    confirm(node, w3, hot)
    refund.refresh_from_db()
    commission.refresh_from_db()
    assert (refund.status, commission.status) == ("sent", "sent")
    assert w3.eth.get_balance(creator_address) == 7 * ETHER // 10
    assert w3.eth.get_balance(farmer_address) == 5 * ETHER // 100
    assert balance(creator, eth()) == 3 * ETHER // 10
    assert_audit_clean()


@pytest.mark.django_db
def test_a_second_payout_run_skips_while_one_holds_the_lease_and_signs_nothing(node, w3, hot):
    from tests.chain.leases import lease_held_elsewhere

    ether_asset()
    farmer, address = paid_farmer()
    withdrawal_request(user=farmer, token=eth(), amount="0.1", address=address)
    with lease_held_elsewhere("evm"):  # another process's run, in effect
        report = evm_payouts_run(w3=w3, signer=hot)
        assert report.busy and report.signed == 0 and not EvmPayout.objects.exists()
    assert run(w3, hot).signed == 1  # released: the next run proceeds at once
