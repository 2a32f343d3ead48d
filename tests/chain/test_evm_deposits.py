"""EVM deposits detected on chain, against a real in-process chain (eth-tester on py-evm, web3's
EthereumTesterProvider) with ether and an ERC-20 compiled here by solc: credited once after N
confirmations, pending before; a reorg before confirmation credits nothing; a watcher run that
dies mid-way resumes from its cursor without double credit; a wrong token, a wrong address,
dust, or an unmatched transfer is never credited."""

from __future__ import annotations

import warnings

import pytest
from eth_account import Account

from chain.models import ChainAsset, ChainTransfer, EvmBlock, EvmCursor
from chain.services.deposits import ReorgTooDeep, deposit_intent_create, evm_watch
from ledger.models import Token
from pools.models import Deposit
from tests.chain.evm import compiled_token
from tests.factories import CreatorFactory, sign_in_wallet
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

CONFIRMATIONS = 3


class Chain:
    """A fresh chain per test; `tester` mines, snapshots and reverts (to build a fork)."""

    def __init__(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from eth_tester import EthereumTester, PyEVMBackend
            from web3 import EthereumTesterProvider, Web3

        self.tester = EthereumTester(PyEVMBackend())
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.keys = [Account.from_key(key.to_bytes()) for key in self.tester.backend.account_keys]
        self.treasury = self.w3.eth.accounts[9]
        self.stranger = self.w3.eth.accounts[8]

    def deploy_token(self, decimals: int, owner: str):
        built = compiled_token()
        contract = self.w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
        tx = contract.constructor("Test", "TST", decimals, 10**30).transact({"from": owner})
        address = self.w3.eth.get_transaction_receipt(tx)["contractAddress"]
        return self.w3.eth.contract(address=address, abi=built["abi"])

    def send_eth(self, sender: str, to: str, units: int) -> str:
        return self.w3.eth.send_transaction({"from": sender, "to": to, "value": units}).hex()

    def mine(self, blocks: int = 1) -> None:
        self.tester.mine_blocks(blocks)

    def watch(self, **kwargs):
        return evm_watch(w3=self.w3, **kwargs)


@pytest.fixture
def chain(settings):
    chain = Chain()
    settings.FORGE_EVM_TREASURY_ADDRESS = chain.treasury
    settings.FORGE_EVM_CONFIRMATIONS = CONFIRMATIONS
    settings.FORGE_EVM_REORG_DEPTH = 16
    settings.FORGE_EVM_START_BLOCK = 0
    settings.FORGE_DEPOSITS_AUTOCONFIRM = False  # the chain confirms, not the demo shortcut
    return chain


@pytest.fixture
def creator_wallet(chain):
    """A creator who linked eth-tester's first funded account by signing in with it."""
    creator = CreatorFactory()
    wallet, _ = sign_in_wallet(creator, chain="evm", key=chain.keys[0])
    return creator, wallet


def eth_factory(creator):
    return funded_factory(creator, token="ETH", reward="0.01", deposit=None)


def tusd_factory(chain, creator, wallet, *, contract_decimals: int = 6):
    """An ERC-20 accepted as the ledger token TUSD (6 decimals) whose contract counts in
    `contract_decimals`, all of it held by `wallet`, and a factory of the creator's in TUSD."""
    usd = Token.objects.create(symbol="TUSD", name="Test dollar", decimals=6, chain="evm")
    token = chain.deploy_token(contract_decimals, wallet.address)
    ChainAsset.objects.create(token=usd, contract_address=token.address)
    return token, funded_factory(creator, token="TUSD", reward="0.2", deposit=None)


def credited(factory) -> list[Deposit]:
    return list(Deposit.objects.filter(factory=factory, status=Deposit.Status.CONFIRMED))


def test_an_ether_deposit_is_pending_then_credited_once_after_n_confirmations(chain, creator_wallet):
    creator, wallet = creator_wallet
    factory = eth_factory(creator)
    intent = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1.5")
    tx = chain.send_eth(wallet.address, chain.treasury, 15 * 10**17)

    chain.watch()
    transfer = ChainTransfer.objects.get()
    assert (transfer.status, transfer.intent, int(transfer.amount)) == ("pending", intent, 15 * 10**17)
    assert transfer.tx_hash.removeprefix("0x") == tx.removeprefix("0x") and transfer.log_index == -1
    assert credited(factory) == []

    chain.mine(CONFIRMATIONS - 2)  # the transfer's block now has N - 1 confirmations
    chain.watch()
    assert ChainTransfer.objects.get().status == "pending" and credited(factory) == []

    chain.mine(1)
    chain.watch()
    chain.watch()  # a second run credits nothing more
    [deposit] = credited(factory)
    assert deposit.amount == 15 * 10**17
    assert deposit.tx_ref == f"{transfer.tx_hash}:-1"
    transfer.refresh_from_db()
    intent.refresh_from_db()
    assert (transfer.status, transfer.deposit, intent.status) == ("credited", deposit, "credited")
    factory.refresh_from_db()
    assert factory.status == "active"
    assert_audit_clean()
    # The audit's chain cross-check notices a credited transfer that disagrees with its deposit.
    from chain.selectors import audit_chain_deposits

    ChainTransfer.objects.filter(pk=transfer.pk).update(amount=transfer.amount + 1)
    assert audit_chain_deposits() == [f"credited chain transfer {transfer.pk} does not match its deposit"]


def test_an_erc20_deposit_is_credited_in_exact_base_units_and_two_transfers_in_one_tx_are_told_apart(
    chain, creator_wallet
):
    creator, wallet = creator_wallet
    token, factory = tusd_factory(chain, creator, wallet, contract_decimals=6)
    first = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="10.000001")
    second = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="2.5")

    token.functions.transferTwice(chain.treasury, 10_000_001, 2_500_000).transact({"from": wallet.address})
    chain.mine(CONFIRMATIONS)
    chain.watch()

    transfers = list(ChainTransfer.objects.order_by("log_index"))
    assert [(t.log_index, int(t.amount), t.status) for t in transfers] == [
        (0, 10_000_001, "credited"),
        (1, 2_500_000, "credited"),
    ]
    assert sorted(d.amount for d in credited(factory)) == [2_500_000, 10_000_001]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == "credited"
    assert_audit_clean()


def test_a_reorg_before_confirmation_credits_nothing(chain, creator_wallet):
    creator, wallet = creator_wallet
    factory = eth_factory(creator)
    intent = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1")
    snapshot = chain.tester.take_snapshot()
    chain.send_eth(wallet.address, chain.treasury, 10**18)
    chain.watch()
    assert ChainTransfer.objects.get().status == "pending"

    # The fork: back to before the transfer, and a longer branch without it.
    chain.tester.revert_to_snapshot(snapshot)
    chain.mine(CONFIRMATIONS + 2)
    report = chain.watch()

    assert report.orphaned == 1
    transfer = ChainTransfer.objects.get()
    assert transfer.status == "orphaned" and "reorg" in transfer.reason
    assert credited(factory) == []
    intent.refresh_from_db()
    assert intent.status == "open"
    # The stored hashes now follow the new branch.
    for block in EvmBlock.objects.all():
        assert block.hash == "0x" + chain.w3.eth.get_block(block.number)["hash"].hex().removeprefix("0x")
    assert_audit_clean()


def test_a_transaction_reincluded_after_a_reorg_is_credited_once(chain, creator_wallet):
    creator, wallet = creator_wallet
    factory = eth_factory(creator)
    deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1")
    snapshot = chain.tester.take_snapshot()
    chain.mine(1)
    chain.send_eth(wallet.address, chain.treasury, 10**18)  # in block 2 on the first branch
    chain.watch()
    chain.tester.revert_to_snapshot(snapshot)
    chain.send_eth(wallet.address, chain.treasury, 10**18)  # same sender nonce: the same transaction, block 1
    chain.mine(CONFIRMATIONS + 1)

    chain.watch()

    [transfer] = ChainTransfer.objects.all()
    assert transfer.status == "credited" and transfer.block_number == 1
    assert len(credited(factory)) == 1
    assert_audit_clean()


def test_a_watcher_stopped_mid_way_resumes_from_its_cursor_without_double_credit(chain, creator_wallet):
    creator, wallet = creator_wallet
    factory = eth_factory(creator)
    for amount in ("1", "2", "3"):
        deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount=amount)
        chain.send_eth(wallet.address, chain.treasury, int(amount) * 10**18)
    chain.mine(CONFIRMATIONS)

    first = chain.watch(max_blocks=2)  # a run that stops after two blocks (a restart, a time limit)
    assert first.scanned == 2
    cursor = EvmCursor.objects.get()
    assert cursor.next_block == 2
    assert ChainTransfer.objects.count() == 1

    # A run that dies after reading blocks but before committing leaves nothing behind.
    class Dies(Exception):
        pass

    real_get_block = chain.w3.eth.get_block
    calls = {"count": 0}

    def get_block_then_die(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] > 2:
            raise Dies
        return real_get_block(*args, **kwargs)

    chain.w3.eth.get_block = get_block_then_die
    with pytest.raises(Dies):
        chain.watch()
    chain.w3.eth.get_block = real_get_block
    assert EvmCursor.objects.get().next_block == 2
    assert ChainTransfer.objects.count() == 1

    chain.watch()
    chain.watch()
    assert sorted(d.amount for d in credited(factory)) == [10**18, 2 * 10**18, 3 * 10**18]
    assert ChainTransfer.objects.filter(status="credited").count() == 3
    assert_audit_clean()


def test_wrong_token_wrong_address_dust_and_unmatched_transfers_are_never_credited(chain, creator_wallet):
    creator, wallet = creator_wallet
    factory = eth_factory(creator)
    intent = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1")
    unknown_token = chain.deploy_token(18, wallet.address)  # a contract we do not accept

    unknown_token.functions.transfer(chain.treasury, 10**18).transact({"from": wallet.address})  # wrong token
    chain.send_eth(wallet.address, chain.stranger, 10**18)  # right amount, wrong address
    chain.send_eth(wallet.address, chain.stranger, 12345)  # an unrelated payment: none of our business
    chain.send_eth(wallet.address, chain.treasury, 1)  # dust
    chain.send_eth(wallet.address, chain.treasury, 10**18 - 1)  # one unit short
    chain.send_eth(chain.stranger, chain.treasury, 10**18)  # right amount, sender not linked
    chain.mine(CONFIRMATIONS)
    chain.watch()

    assert ChainTransfer.objects.count() == 5
    assert set(ChainTransfer.objects.values_list("status", flat=True)) == {"unmatched"}
    elsewhere = ChainTransfer.objects.get(to_address=chain.stranger)
    assert f"sent to {chain.stranger}, not to the treasury" in elsewhere.reason
    reasons = dict(ChainTransfer.objects.exclude(pk=elsewhere.pk).values_list("amount", "reason"))
    assert "wrong token" in ChainTransfer.objects.get(token__isnull=True).reason
    assert "no open deposit of exactly 0.000000000000000001 ETH" in reasons[1]
    assert "no open deposit" in reasons[10**18 - 1]
    assert "not a linked wallet" in ChainTransfer.objects.get(from_address=chain.stranger).reason
    assert credited(factory) == [] and Deposit.objects.count() == 0
    intent.refresh_from_db()
    assert intent.status == "open"
    assert_audit_clean()


def test_a_reorg_deeper_than_a_credit_stops_the_watcher(chain, creator_wallet):
    creator, wallet = creator_wallet
    factory = eth_factory(creator)
    deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1")
    snapshot = chain.tester.take_snapshot()
    chain.send_eth(wallet.address, chain.treasury, 10**18)
    chain.mine(CONFIRMATIONS)
    chain.watch()
    assert len(credited(factory)) == 1
    chain.tester.revert_to_snapshot(snapshot)
    chain.mine(CONFIRMATIONS + 3)

    with pytest.raises(ReorgTooDeep):
        chain.watch()
    assert len(credited(factory)) == 1  # nothing reversed by guess: staff decide
    assert ChainTransfer.objects.get().status == "credited"


def test_a_transfer_for_a_closed_factory_is_kept_for_staff_not_credited(chain, creator_wallet):
    from pools.services.factories import factory_close

    creator, wallet = creator_wallet
    factory = eth_factory(creator)
    deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1")
    factory_close(factory=factory, actor=creator)
    chain.send_eth(wallet.address, chain.treasury, 10**18)
    chain.mine(CONFIRMATIONS)
    chain.watch()

    transfer = ChainTransfer.objects.get()
    assert transfer.status == "unmatched" and "closed" in transfer.reason
    assert Deposit.objects.count() == 0
    assert_audit_clean()


def test_an_erc20_payment_of_the_announced_amount_to_another_address_is_kept_for_staff(chain, creator_wallet):
    creator, wallet = creator_wallet
    token, factory = tusd_factory(chain, creator, wallet, contract_decimals=6)
    intent = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="5")

    token.functions.transfer(chain.stranger, 5_000_000).transact({"from": wallet.address})  # the announced amount
    token.functions.transfer(chain.stranger, 4_000_000).transact({"from": wallet.address})  # not announced: not ours
    chain.mine(CONFIRMATIONS)
    chain.watch()

    transfer = ChainTransfer.objects.get()
    assert (transfer.status, int(transfer.amount), transfer.to_address) == ("unmatched", 5_000_000, chain.stranger)
    assert "not to the treasury" in transfer.reason
    assert Deposit.objects.count() == 0
    intent.refresh_from_db()
    assert intent.status == "open"


def test_an_erc20_whose_contract_decimals_differ_from_the_ledger_token_is_never_credited(chain, creator_wallet):
    """A token configured with 6 decimals whose contract counts in 18: 5 "TUSD" by the ledger's
    reading is 0.000000000005 on chain. The watcher reads `decimals()` from the contract and
    keeps the transfer for staff with the reason, instead of crediting 10^12 times too much."""
    creator, wallet = creator_wallet
    token, factory = tusd_factory(chain, creator, wallet, contract_decimals=18)
    intent = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="5")
    token.functions.transfer(chain.treasury, 5_000_000).transact({"from": wallet.address})
    chain.mine(CONFIRMATIONS)

    report = chain.watch()

    transfer = ChainTransfer.objects.get()
    reason = f"TUSD's contract {token.address} says decimals() = 18, the ledger token has 6"
    assert transfer.status == "unmatched" and reason in transfer.reason
    assert report.credited == 0 and len(report.refused) == 1 and reason in report.refused[0]
    assert Deposit.objects.count() == 0
    intent.refresh_from_db()
    assert intent.status == "open"
    assert_audit_clean()


def test_an_erc20_whose_decimals_cannot_be_read_is_not_settled_and_others_still_are(chain, creator_wallet):
    creator, wallet = creator_wallet
    token, factory = tusd_factory(chain, creator, wallet, contract_decimals=6)
    nothing = Token.objects.create(symbol="NOPE", name="No contract", decimals=6, chain="evm")
    ChainAsset.objects.create(token=nothing, contract_address=chain.stranger)  # an account, no code
    deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="5")
    token.functions.transfer(chain.treasury, 5_000_000).transact({"from": wallet.address})
    chain.mine(CONFIRMATIONS)

    report = chain.watch()

    assert report.credited == 1 and [d.amount for d in credited(factory)] == [5_000_000]
    assert len(report.refused) == 1 and "NOPE" in report.refused[0] and "could not be read" in report.refused[0]
    assert_audit_clean()


def test_a_catch_up_run_wider_than_the_reorg_window_still_settles(chain, creator_wallet):
    """One run scans 40-odd blocks (FORGE_EVM_BLOCKS_PER_RUN 200 > FORGE_EVM_REORG_DEPTH 16):
    the hash of the transfer's block, below the window when the run settles, is kept for it."""
    creator, wallet = creator_wallet
    factory = eth_factory(creator)
    deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1")
    chain.send_eth(wallet.address, chain.treasury, 10**18)
    chain.mine(40)

    report = chain.watch()

    transfer = ChainTransfer.objects.get()
    assert report.scanned > 16 + CONFIRMATIONS and report.credited == 1 and report.stale == []
    assert transfer.status == ChainTransfer.Status.CREDITED and [d.amount for d in credited(factory)] == [10**18]
    chain.mine(1)
    chain.watch()  # settled: the window is back to the last FORGE_EVM_REORG_DEPTH blocks
    assert not EvmBlock.objects.filter(number=transfer.block_number).exists()
    assert EvmBlock.objects.count() == 16
    assert_audit_clean()


def test_a_token_unreadable_for_longer_than_the_reorg_window_is_settled_once_readable(chain, creator_wallet):
    """decimals() could not be read for 40 blocks (here the asset pointed at an address with no
    code, then corrected): the transfer waits, is shown to staff as stale, then is credited."""
    creator, wallet = creator_wallet
    token, factory = tusd_factory(chain, creator, wallet, contract_decimals=6)
    deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="5")
    token.functions.transfer(chain.treasury, 5_000_000).transact({"from": wallet.address})
    chain.mine(1)
    chain.watch()
    transfer = ChainTransfer.objects.get()
    ChainAsset.objects.filter(contract_address=token.address).update(contract_address=chain.stranger)
    for _ in range(4):
        chain.mine(10)
        report = chain.watch()
        assert report.credited == 0 and "could not be read" in report.refused[0]
    assert len(report.stale) == 1 and f"transfer {transfer.pk} " in report.stale[0]
    assert "could not be read" in report.stale[0]
    # the window's 16 hashes and the waiting transfer's block, not every block since it
    assert set(EvmBlock.objects.values_list("number", flat=True)) == {
        transfer.block_number,
        *range(report.head - 15, report.head + 1),
    }

    ChainAsset.objects.filter(contract_address=chain.stranger).update(contract_address=token.address)
    chain.mine(1)
    report = chain.watch()

    transfer.refresh_from_db()
    assert report.credited == 1 and report.stale == [] and transfer.status == ChainTransfer.Status.CREDITED
    assert [d.amount for d in credited(factory)] == [5_000_000]
    assert_audit_clean()


def test_a_transfer_stranded_by_an_earlier_prune_is_settled_after_its_block_is_read_again(chain, creator_wallet):
    """A pending transfer whose block's hash an earlier version pruned: the watcher reads the
    block from the node again and, the hash being the one seen, settles it."""
    creator, wallet = creator_wallet
    factory = eth_factory(creator)
    deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1")
    chain.send_eth(wallet.address, chain.treasury, 10**18)
    chain.mine(1)
    chain.watch()
    transfer = ChainTransfer.objects.get()
    EvmBlock.objects.filter(number=transfer.block_number).delete()
    chain.mine(20)  # its block now below the reorg window (16)

    assert chain.watch().credited == 1
    assert [d.amount for d in credited(factory)] == [10**18]
    assert_audit_clean()
