"""Payouts sent by the system, on EVM: withdrawals paid from the hot wallet, exactly once.

One run (`evm_payouts_run`, Celery beat `chain.evm_payouts`, every 15 s) follows the shared
skeleton of chain/services/runs.py: it holds the `evm` payout run lease (a second run skips; a
killed process's lease expires by itself) and:

1. **tracks** every live transaction (`signed`, `broadcast`, `mined`; chain/payout_models.py),
   oldest nonce first. With a receipt: `mined` at its block, and once that block has
   FORGE_EVM_CONFIRMATIONS confirmations (itself included) and is still the chain's block at
   that height, `confirmed` (the withdrawal is recorded sent through the ledger:
   `accounts.services.withdrawal_sent_record`) or, if it reverted, `failed` (the amount goes
   back to the balance: `withdrawal_failed_return`). Without a receipt: **dead** only when
   the hot wallet's nonce *at the confirmation depth* is past the transaction's nonce (another
   transaction used it, and deep enough that no reorg brings ours back); otherwise in doubt,
   so the stored bytes are **re-broadcast as they are** (same hash, same nonce: the chain can
   include them at most once);
2. **signs** new transactions, up to FORGE_EVM_PAYOUTS_PER_RUN: first for withdrawals whose
   transaction died, then for `pending` withdrawals of tokens the chain knows (ChainAsset),
   oldest first. Each in its own database transaction: the withdrawal `pending` -> `sending`
   and the row with the signed bytes and nonce are committed together, **before** anything is
   broadcast. A withdrawal whose amount the hot wallet cannot cover stays pending (the admin
   index shows the low balance). Nothing new is signed while the gas price is above
   FORGE_EVM_MAX_GAS_PRICE_GWEI;
3. **broadcasts** the rows just signed, and marks them `broadcast` afterwards.

Why exactly once: every transaction that can reach the chain was committed first (a process
killed after signing, before or after broadcasting, leaves a `signed` row that the next run
re-broadcasts as is); the database keeps one row per nonce and one live row per withdrawal;
and a second transaction for a withdrawal is signed only after the first is provably dead.
`tests/chain/test_evm_payouts.py` kills a real process at both points.

The hot wallet pays the gas (in ether); the user receives the exact amount requested.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Withdrawal
from accounts.services import withdrawal_failed_return, withdrawal_sending_mark, withdrawal_sent_record

from ..locks import evm_payout_lock
from ..models import ChainAsset, ChainKind, EvmPayout
from .deposits import evm_client
from .runs import RunReport, no_lease, payout_run

logger = logging.getLogger(__name__)

GWEI = 10**9
NATIVE_GAS = 21_000
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # transfer(address,uint256)
BALANCE_OF_SELECTOR = bytes.fromhex("70a08231")  # balanceOf(address)
# An ERC-20 transfer's gas: the node's estimate plus this margin (an unused margin is not paid).
GAS_MARGIN_PERCENT = 25
# Errors a node gives when the exact bytes are already in its pool or already mined: the
# transaction is in doubt, not lost; the next tracking step decides.
ALREADY_KNOWN = ("already known", "known transaction", "nonce too low", "already imported", "already exists")


@dataclass
class PayoutReport(RunReport):
    head: int = 0
    rebroadcast: int = 0
    broadcast: int = 0


def evm_payouts_run(*, w3=None, signer=None, limit: int | None = None) -> PayoutReport:
    """One payout run (see the module docstring). Safe at any time, from any process."""
    from ..signer import evm_hot_wallet

    w3 = w3 or evm_client()
    signer = signer or evm_hot_wallet()
    report = PayoutReport()

    def track(renew) -> None:
        report.head = w3.eth.block_number
        payouts_track(w3=w3, signer=signer, report=report, renew=renew)

    return payout_run(
        lease=ChainKind.EVM,
        report=report,
        track=track,
        sign=lambda renew: payouts_sign(w3=w3, signer=signer, report=report, limit=limit, renew=renew),
        send=lambda payout_id: payout_broadcast(w3=w3, payout_id=payout_id, report=report),
    )


# ---- 1. tracking ------------------------------------------------------------------------------


def payouts_track(*, w3, signer, report: PayoutReport, renew: Callable[[], None] = no_lease) -> None:
    live = list(
        EvmPayout.objects.filter(from_address=signer.address, status__in=EvmPayout.LIVE)
        .order_by("nonce")
        .values_list("pk", flat=True)
    )
    if not live:
        return
    confirmations = settings.FORGE_EVM_CONFIRMATIONS
    depth_block = max(report.head - confirmations + 1, 0)
    deep_nonce = w3.eth.get_transaction_count(signer.address, block_identifier=depth_block)
    for payout_id in live:
        renew()
        payout = EvmPayout.objects.get(pk=payout_id)
        receipt = _receipt(w3, payout.tx_hash)
        if receipt is not None:
            _track_mined(w3, payout, receipt, report)
        elif payout.nonce < deep_nonce:
            _mark_dead(payout, report)
        else:
            if payout.status == EvmPayout.Status.MINED:  # a reorg took it out of the chain
                EvmPayout.objects.filter(pk=payout.pk, status=EvmPayout.Status.MINED).update(
                    status=EvmPayout.Status.BROADCAST, block_number=None, block_hash=""
                )
            payout_broadcast(w3=w3, payout_id=payout.pk, report=report, again=True)


def _receipt(w3, tx_hash: str):
    from web3.exceptions import TransactionNotFound

    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return None


def _hex(value) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return text if text.startswith("0x") else "0x" + text


def _track_mined(w3, payout: EvmPayout, receipt, report: PayoutReport) -> None:
    block_number, block_hash = int(receipt["blockNumber"]), _hex(receipt["blockHash"])
    deep_enough = report.head - block_number + 1 >= settings.FORGE_EVM_CONFIRMATIONS
    if not deep_enough or _hex(w3.eth.get_block(block_number)["hash"]) != block_hash:
        EvmPayout.objects.filter(pk=payout.pk, status__in=EvmPayout.LIVE).update(
            status=EvmPayout.Status.MINED, block_number=block_number, block_hash=block_hash
        )
        return
    succeeded = int(receipt["status"]) == 1
    with transaction.atomic(durable=True):
        payout = evm_payout_lock(payout.pk)
        if payout.status not in EvmPayout.LIVE:
            return
        payout.block_number, payout.block_hash, payout.settled_at = block_number, block_hash, timezone.now()
        if succeeded:
            payout.status = EvmPayout.Status.CONFIRMED
            withdrawal_sent_record(withdrawal_id=payout.withdrawal_id, chain_ref=payout.tx_hash)
            report.confirmed += 1
        else:
            payout.status, payout.note = EvmPayout.Status.FAILED, "reverted on chain"
            withdrawal_failed_return(
                withdrawal_id=payout.withdrawal_id,
                reason="the transfer failed on chain; the amount is back in your balance",
                chain_ref=payout.tx_hash,
            )
            report.failed += 1
        payout.save(update_fields=["status", "block_number", "block_hash", "settled_at", "note"])
    logger.info("EVM payout %s %s", payout, payout.status)


def _mark_dead(payout: EvmPayout, report: PayoutReport) -> None:
    note = "its nonce was used by another transaction: never mined"
    if EvmPayout.objects.filter(pk=payout.pk, status__in=EvmPayout.LIVE).update(
        status=EvmPayout.Status.DEAD, note=note, settled_at=timezone.now()
    ):
        report.dead += 1
        logger.warning("EVM payout %s is dead (%s); withdrawal %s gets a new one", payout, note, payout.withdrawal_id)


# ---- 2. signing -------------------------------------------------------------------------------


def payouts_sign(
    *, w3, signer, report: PayoutReport, limit: int | None = None, renew: Callable[[], None] = no_lease
) -> list[int]:
    """Sign (and store) transactions for the withdrawals waiting; the new rows' ids."""
    limit = settings.FORGE_EVM_PAYOUTS_PER_RUN if limit is None else limit
    gas_price = int(w3.eth.gas_price)
    if gas_price > int(settings.FORGE_EVM_MAX_GAS_PRICE_GWEI * GWEI):
        report.waiting.append(f"gas price {gas_price / GWEI:.1f} gwei is above FORGE_EVM_MAX_GAS_PRICE_GWEI")
        return []
    assets = {asset.token_id: asset.contract_address for asset in ChainAsset.objects.all()}
    # Withdrawals already taken whose transaction died, then new ones, oldest first.
    orphans = list(
        Withdrawal.objects.filter(status=Withdrawal.Status.SENDING, token__chain=ChainKind.EVM)
        .exclude(pk__in=EvmPayout.objects.filter(status__in=[*EvmPayout.LIVE, "confirmed"]).values("withdrawal_id"))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    fresh = list(
        Withdrawal.objects.filter(
            status=Withdrawal.Status.PENDING, token__chain=ChainKind.EVM, token_id__in=list(assets)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[: max(limit - len(orphans), 0)]
    )
    signed: list[int] = []
    budget = _hot_wallet_budget(w3, signer)
    for withdrawal_id in orphans + fresh:
        renew()
        payout_id = _sign_one(
            w3=w3, signer=signer, withdrawal_id=withdrawal_id, assets=assets, gas_price=gas_price, budget=budget
        )
        if isinstance(payout_id, int):
            signed.append(payout_id)
            report.signed += 1
        elif payout_id:
            report.waiting.append(f"withdrawal {withdrawal_id}: {payout_id}")
    return signed


def _hot_wallet_budget(w3, signer) -> dict[str, int]:
    """What the hot wallet can still spend this run, by contract ("" = ether): its balance in
    the latest block (mined transactions already count there) net of the transactions signed or
    broadcast and not yet mined."""
    budget = {"": int(w3.eth.get_balance(signer.address, "latest"))}
    for payout in EvmPayout.objects.filter(
        from_address=signer.address, status__in=[EvmPayout.Status.SIGNED, EvmPayout.Status.BROADCAST]
    ):
        budget[""] -= int(payout.gas_limit * payout.gas_price)
        if payout.contract_address:
            budget.setdefault(payout.contract_address, token_balance(w3, payout.contract_address, signer.address))
            budget[payout.contract_address] -= int(payout.amount)
        else:
            budget[""] -= int(payout.amount)
    return budget


def token_balance(w3, contract: str, holder: str) -> int:
    from eth_abi import encode

    data = BALANCE_OF_SELECTOR + encode(["address"], [holder])
    return int.from_bytes(w3.eth.call({"to": contract, "data": data}, "latest"), "big")


def _next_nonce(w3, address: str) -> int:
    from django.db.models import Max

    stored = EvmPayout.objects.filter(from_address=address).aggregate(top=Max("nonce"))["top"]
    return max(int(w3.eth.get_transaction_count(address, "pending")), -1 if stored is None else stored + 1)


def _sign_one(*, w3, signer, withdrawal_id: int, assets: dict, gas_price: int, budget: dict) -> int | str:
    """Take one withdrawal and store its signed transaction; the row's id, or why not."""
    from eth_abi import encode

    with transaction.atomic(durable=True):
        withdrawal = Withdrawal.objects.select_related("token").get(pk=withdrawal_id)
        contract = assets.get(withdrawal.token_id)
        if contract is None:
            return f"{withdrawal.token.symbol} has no chain asset"
        to = withdrawal.address
        amount = int(withdrawal.amount)
        if contract:
            data = TRANSFER_SELECTOR + encode(["address", "uint256"], [to, amount])
            if budget.setdefault(contract, token_balance(w3, contract, signer.address)) < amount:
                return f"the hot wallet holds too little {withdrawal.token.symbol}"
            try:
                estimate = int(w3.eth.estimate_gas({"from": signer.address, "to": contract, "data": data}))
            except Exception as error:  # a transfer that would revert is not signed
                return f"the transfer would fail ({str(error)[:120]})"
            gas = estimate * (100 + GAS_MARGIN_PERCENT) // 100
            tx = {"to": contract, "value": 0, "data": data}
        else:
            gas, tx = NATIVE_GAS, {"to": to, "value": amount, "data": b""}
        cost = gas * gas_price + (0 if contract else amount)
        if budget[""] < cost:
            return "the hot wallet holds too little ether for the amount and the gas"

        if withdrawal.status == Withdrawal.Status.PENDING:
            if withdrawal_sending_mark(withdrawal_id=withdrawal.pk) is None:
                return ""
        else:  # `sending`, its transaction dead: lock it and check again under the lock
            from accounts.locks import withdrawal_lock

            withdrawal = withdrawal_lock(withdrawal.pk)
            live = EvmPayout.objects.filter(withdrawal_id=withdrawal.pk, status__in=[*EvmPayout.LIVE, "confirmed"])
            if withdrawal.status != Withdrawal.Status.SENDING or live.exists():
                return ""
        nonce = _next_nonce(w3, signer.address)
        tx |= {"nonce": nonce, "gas": gas, "gasPrice": gas_price, "chainId": settings.FORGE_EVM_CHAIN_ID}
        signed = signer.sign(tx)
        try:
            with transaction.atomic():
                payout = EvmPayout.objects.create(
                    withdrawal_id=withdrawal.pk,
                    token_id=withdrawal.token_id,
                    contract_address=contract,
                    from_address=signer.address,
                    to_address=to,
                    amount=amount,
                    nonce=nonce,
                    gas_limit=gas,
                    gas_price=gas_price,
                    raw_tx=_hex(signed.raw),
                    tx_hash=signed.tx_hash,
                )
        except IntegrityError:  # another signer used this nonce (two payout systems?): sign nothing
            transaction.set_rollback(True)
            return "nonce taken by another payout row; retried next run"
        budget[""] -= cost
        if contract:
            budget[contract] -= amount
    logger.info("EVM payout %s signed for withdrawal %s", payout, withdrawal_id)
    return payout.pk


# ---- 3. broadcasting --------------------------------------------------------------------------


def payout_broadcast(*, w3, payout_id: int, report: PayoutReport, again: bool = False) -> None:
    """Send the stored bytes to the node; a node that already knows them is fine."""
    payout = EvmPayout.objects.get(pk=payout_id)
    try:
        w3.eth.send_raw_transaction(payout.raw_tx)
    except Exception as error:
        text = str(error).lower()
        if not any(marker in text for marker in ALREADY_KNOWN):
            logger.warning("EVM payout %s: broadcast refused (%s); retried next run", payout, error)
            EvmPayout.objects.filter(pk=payout.pk).update(note=f"broadcast refused: {error}"[:255])
            return
    EvmPayout.objects.filter(pk=payout.pk, status=EvmPayout.Status.SIGNED).update(
        status=EvmPayout.Status.BROADCAST, broadcast_at=timezone.now()
    )
    EvmPayout.objects.filter(pk=payout.pk).update(broadcasts=payout.broadcasts + 1)
    if again:
        report.rebroadcast += 1
    else:
        report.broadcast += 1
