"""Races on PostgreSQL with real threads (one connection each): one signed message sent six
times at once links one wallet; watcher runs started together scan and credit once."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from solders.keypair import Keypair

from chain.models import ChainTransfer, Wallet, WalletNonce
from chain.services import wallet_link, wallet_nonce_issue
from chain.services.deposits import deposit_intent_create, evm_watch
from core.exceptions import Conflict
from pools.models import Deposit
from tests.chain.test_evm_deposits import CONFIRMATIONS, Chain
from tests.concurrency import all_at_once
from tests.factories import CreatorFactory, FarmerFactory, sign_in_wallet
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_one_signed_message_sent_six_times_at_once_links_one_wallet():
    user = FarmerFactory()
    key = Keypair()
    fields = wallet_nonce_issue(user=user, chain="solana", address=str(key.pubkey()))
    signature = str(key.sign_message(fields["message"].encode()))

    results = all_at_once(
        [lambda: wallet_link(user=user, chain="solana", message=fields["message"], signature=signature)] * 6
    )

    linked = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, ValidationError | Conflict)]
    assert len(linked) == 1 and len(refused) == 5, results
    assert Wallet.objects.count() == 1
    assert WalletNonce.objects.get().used_at is not None


@pytest.mark.chain
def test_watcher_runs_started_together_credit_once(settings):
    chain = Chain()
    settings.FORGE_EVM_TREASURY_ADDRESS = chain.treasury
    settings.FORGE_EVM_CONFIRMATIONS = CONFIRMATIONS
    settings.FORGE_EVM_START_BLOCK = 0
    settings.FORGE_DEPOSITS_AUTOCONFIRM = False
    creator = CreatorFactory()
    wallet, _ = sign_in_wallet(creator, chain="evm", key=chain.keys[0])
    factory = funded_factory(creator, token="ETH", reward="0.01", deposit=None)
    for amount in (1, 2):
        deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount=str(amount))
        chain.send_eth(wallet.address, chain.treasury, amount * 10**18)
    chain.mine(CONFIRMATIONS)
    evm_watch(w3=chain.w3, max_blocks=0)  # creates the cursor, scans nothing

    # eth-tester is not thread-safe: the runs share one chain object but a lock around each call.
    import threading

    lock = threading.Lock()
    real_request = chain.w3.provider.make_request

    def serialised(method, params):
        with lock:
            return real_request(method, params)

    chain.w3.provider.make_request = serialised
    results = all_at_once([lambda: evm_watch(w3=chain.w3)] * 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    # Every block scanned exactly once across the four runs (a run finding the cursor locked skips).
    assert sum(r.scanned for r in results) == chain.w3.eth.block_number + 1
    assert ChainTransfer.objects.count() == 2
    assert sorted(Deposit.objects.filter(factory=factory).values_list("amount", flat=True)) == [10**18, 2 * 10**18]
    assert_audit_clean()


@pytest.mark.chain
def test_two_transfers_paying_one_intent_settled_at_once_credit_it_once(settings):
    """Two payments of the same announcement (same wallet, token and amount) settled by two
    overlapping runs: both read the intent open, then queue on its row lock. The first credits
    it; the second must see it credited under the lock and be kept for staff, not credited a
    second time (the old EVM path locked the intent but never looked at it again)."""
    import threading

    from django.db import connection, transaction

    from chain.models import DepositIntent
    from chain.services.deposits import transfer_settle

    chain = Chain()
    settings.FORGE_EVM_TREASURY_ADDRESS = chain.treasury
    settings.FORGE_EVM_START_BLOCK = 0
    settings.FORGE_DEPOSITS_AUTOCONFIRM = False
    creator = CreatorFactory()
    wallet, _ = sign_in_wallet(creator, chain="evm", key=chain.keys[0])
    factory = funded_factory(creator, token="ETH", reward="0.01", deposit=None)
    intent = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1")
    for _ in range(2):
        chain.send_eth(wallet.address, chain.treasury, 10**18)
    chain.mine(CONFIRMATIONS)
    settings.FORGE_EVM_CONFIRMATIONS = 1000  # scan now, settle below by hand
    evm_watch(w3=chain.w3)
    transfer_ids = list(ChainTransfer.objects.filter(intent=intent).values_list("pk", flat=True))
    assert len(transfer_ids) == 2

    locked, release = threading.Event(), threading.Event()

    def hold_the_intent():
        try:
            with transaction.atomic():
                DepositIntent.objects.select_for_update().get(pk=intent.pk)
                locked.set()
                release.wait(60)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_intent)
    holder.start()
    assert locked.wait(30)
    results = []
    settling = threading.Thread(
        target=lambda: results.extend(
            all_at_once([lambda pk=pk: transfer_settle(transfer_id=pk) for pk in transfer_ids])
        )
    )
    settling.start()
    _wait_for_lock_waiters(2)  # both settlements matched the open intent and wait for its lock
    release.set()
    holder.join(30)
    settling.join(60)

    assert sorted(results) == ["credited", "unmatched"], results
    assert Deposit.objects.filter(factory=factory).count() == 1
    second = ChainTransfer.objects.get(status="unmatched")
    assert f"deposit request {intent.pk} is credited" in second.reason
    assert_audit_clean()


def _wait_for_lock_waiters(count: int, timeout: float = 30) -> None:
    import time

    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"{count} transactions never waited for a lock")
