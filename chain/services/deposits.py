"""On-chain deposits on EVM: a creator announces a deposit (an intent), the watcher reads the
chain and credits the matching transfer once, through the pools deposit service.

The reference that matches a transfer to a deposit is (sender, token, exact amount): the
sender must be a wallet the creator linked by signature, and an open intent of that wallet,
token and amount is unique (a database constraint). Nothing is credited by guess: a transfer
that matches no open intent is stored as `unmatched` with its reason, for staff.

The watcher (`evm_watch`, Celery beat `chain.evm_watch`) per run:
1. locks its cursor (a second watcher skips the run);
2. compares the block hashes it stored with the chain's; from the first that differs (a
   reorg), pending transfers become `orphaned`, the stored hashes go and the cursor moves back,
   so the new branch is scanned again (a re-included transaction becomes pending again);
3. scans up to FORGE_EVM_BLOCKS_PER_RUN blocks from the cursor: native transfers to the
   treasury (successful transactions only) and ERC-20 `Transfer` events to it, plus payments
   of exactly an open intent's amount from its wallet to another address (a likely mistake,
   kept for staff), stored once
   per (chain, tx hash, index); the block hashes and the cursor are written in the same
   database transaction as the transfers, so a crash resumes from a consistent cursor;
4. settles every pending transfer with FORGE_EVM_CONFIRMATIONS confirmations, each in its own
   transaction: matched → `intent_credit` (chain/services/credit.py: the intent checked again
   under its lock, then `deposit_create` + `deposit_confirm`) with tx_ref `<tx hash>:<index>`;
   otherwise, or when its token's contract states other decimals than the ledger token
   (`asset_decimals_check`, read at the start of every run), `unmatched`.
The hashes of blocks older than FORGE_EVM_REORG_DEPTH are forgotten, except those of blocks
holding a pending transfer (settling needs them); a pending transfer older than
FORGE_EVM_CONFIRMATIONS + FORGE_EVM_REORG_DEPTH blocks is logged and listed in the report
(`stale`), for staff.
A reorg deeper than a credited transfer is not repaired automatically: the watcher stops with
an error for staff (docs/chain.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.exceptions import Conflict, Forbidden, NotFound
from core.money import format_amount, parse_amount

from .. import signin
from ..locks import chain_transfer_lock, deposit_intent_lock, evm_cursor_lock
from ..models import ChainAsset, ChainKind, ChainTransfer, DepositIntent, EvmBlock, EvmCursor, Wallet
from .credit import intent_credit

logger = logging.getLogger(__name__)

# keccak256("Transfer(address,address,uint256)"): the ERC-20 (and ERC-721) transfer event.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
NATIVE_INDEX = -1
CURSOR_NAME = "evm"


class _ChainMoved(Exception):
    """The chain changed between two reads of one block: stop; the next run's check handles it."""


class ReorgTooDeep(Exception):
    """The chain dropped a block holding a credited transfer, or more blocks than we keep."""


# ---- Intents -----------------------------------------------------------------------------------


@transaction.atomic
def deposit_intent_create(*, factory, actor, wallet_id, amount) -> DepositIntent:
    """Announce a deposit of exactly `amount` from one of the actor's linked EVM wallets."""
    from pools.models import Factory

    if factory.creator_id != actor.pk:
        raise Forbidden("Only the factory's creator can fund it.")
    factory = Factory.objects.select_related("token").get(pk=factory.pk)
    if factory.status == Factory.Status.CLOSED:
        raise Conflict("This factory is closed and cannot be funded.")
    token = factory.token
    asset = ChainAsset.objects.filter(token=token).first()
    if token.chain != ChainKind.EVM or asset is None or not settings.FORGE_EVM_TREASURY_ADDRESS:
        raise ValidationError({"token": [f"{token.symbol} cannot be deposited on chain here yet."]})
    if not token.enabled:
        raise ValidationError({"token": [f"{token.symbol} is disabled: deposits are paused for it."]})
    units = parse_amount(amount, decimals=token.decimals)
    wallet = Wallet.objects.filter(
        pk=wallet_id if isinstance(wallet_id, int) else -1, user=actor, chain=ChainKind.EVM, unlinked_at__isnull=True
    ).first()
    if wallet is None:
        raise ValidationError(
            {"wallet": ["Choose one of your linked Ethereum wallets (link one on your wallets page)."]}
        )
    try:
        with transaction.atomic():
            return DepositIntent.objects.create(
                factory=factory, creator=actor, token=token, wallet=wallet, amount=units
            )
    except IntegrityError:
        raise Conflict(
            f"You already have an open deposit of {token.money(units)} from this wallet: pay it, or choose "
            "another amount so the transfers can be told apart."
        ) from None


@transaction.atomic
def deposit_intent_cancel(*, actor, intent_id: int) -> DepositIntent:
    intent = deposit_intent_lock(intent_id, creator=actor)
    if intent is None:
        raise NotFound("No such deposit.")
    if intent.status == DepositIntent.Status.CREDITED:
        raise Conflict("This deposit was already credited.")
    intent.status = DepositIntent.Status.CANCELLED
    intent.save(update_fields=["status"])
    return intent


# ---- The watcher -------------------------------------------------------------------------------


@dataclass
class WatchReport:
    head: int = 0
    scanned: int = 0
    seen: int = 0
    orphaned: int = 0
    credited: int = 0
    unmatched: int = 0
    busy: bool = False
    # Tokens not credited this run, and why (asset_decimals_check): a configuration error for staff.
    refused: list[str] = field(default_factory=list)
    # Pending transfers that should have settled long ago (`_stale_pending`), for staff.
    stale: list[str] = field(default_factory=list)


def evm_client():
    """web3 on FORGE_EVM_RPC_URL (HTTP JSON-RPC)."""
    from web3 import Web3

    return Web3(Web3.HTTPProvider(settings.FORGE_EVM_RPC_URL, request_kwargs={"timeout": 20}))


def treasury_address() -> str:
    return signin.address_normalise(ChainKind.EVM, settings.FORGE_EVM_TREASURY_ADDRESS)


def evm_watch(*, w3=None, max_blocks: int | None = None) -> WatchReport:
    """One run of the watcher (see the module docstring). Safe to run at any time, any number
    of times, from any number of processes."""
    w3 = w3 or evm_client()
    report = WatchReport()
    refused_tokens, unreadable_tokens = asset_decimals_check(w3)
    report.refused = sorted([*refused_tokens.values(), *unreadable_tokens.values()])
    with transaction.atomic(durable=True):
        cursor = _cursor_lock(w3)
        if cursor is None:
            report.busy = True
            return report
        report.head = w3.eth.block_number
        report.orphaned = _reorg_check(w3, cursor)
        report.scanned, report.seen = _scan(
            w3, cursor, report.head, settings.FORGE_EVM_BLOCKS_PER_RUN if max_blocks is None else max_blocks
        )
        _restore_checked_blocks(w3, cursor)
        _prune(cursor)
    # Settle what is deep enough, with the hashes just checked against the chain.
    deepest = report.head - settings.FORGE_EVM_CONFIRMATIONS + 1
    pending = (
        ChainTransfer.objects.filter(
            chain=ChainKind.EVM, status=ChainTransfer.Status.PENDING, block_number__lte=deepest
        )
        .exclude(token_id__in=list(unreadable_tokens))
        .order_by("block_number", "id")
    )
    for transfer_id in pending.values_list("pk", flat=True):
        outcome = transfer_settle(transfer_id=transfer_id, refused_tokens=refused_tokens)
        if outcome == ChainTransfer.Status.CREDITED:
            report.credited += 1
        elif outcome == ChainTransfer.Status.UNMATCHED:
            report.unmatched += 1
    report.stale = _stale_pending(report.head, unreadable_tokens)
    return report


# The one function of an ERC-20 the configuration check calls.
DECIMALS_ABI = [
    {
        "name": "decimals",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint8"}],
    }
]


def asset_decimals_check(w3) -> tuple[dict[int, str], dict[int, str]]:
    """Every accepted ERC-20's `decimals()`, read from its contract, against its ledger token:
    ({token id: why} that differ, {token id: why} that could not be read). A token whose
    decimals differ would be credited 10^k times off: its transfers are kept for staff with the
    reason. One whose `decimals()` cannot be read (the RPC failed, no such function) is not
    settled this run: its transfers stay pending. Both are logged as errors and listed in the
    run's report."""
    differ, unreadable = {}, {}
    for asset in ChainAsset.objects.exclude(contract_address="").select_related("token").order_by("pk"):
        token = asset.token
        where = f"{token.symbol}'s contract {asset.contract_address}"
        try:
            contract = w3.eth.contract(address=asset.contract_address, abi=DECIMALS_ABI)
            on_chain = int(contract.functions.decimals().call())
        except Exception as error:  # no contract, no decimals(), the RPC failed: never guess
            unreadable[token.pk] = f"not settled: {where}: decimals() could not be read ({type(error).__name__})"
            logger.error("EVM watcher: %s", unreadable[token.pk])
            continue
        if on_chain != token.decimals:
            differ[token.pk] = (
                f"configuration error, not credited: {where} says decimals() = {on_chain}, "
                f"the ledger token has {token.decimals}"
            )[:255]
            logger.error("EVM watcher: %s", differ[token.pk])
    return differ, unreadable


def _cursor_lock(w3) -> EvmCursor | None:
    """The cursor, locked for this run, or None when another run holds it."""
    if not EvmCursor.objects.filter(name=CURSOR_NAME).exists():
        start = settings.FORGE_EVM_START_BLOCK
        if start is None:
            start = max(w3.eth.block_number - settings.FORGE_EVM_CONFIRMATIONS, 0)
        EvmCursor.objects.get_or_create(name=CURSOR_NAME, defaults={"next_block": start})
    return evm_cursor_lock(CURSOR_NAME)


def _hex(value) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return text if text.startswith("0x") else "0x" + text


def _reorg_check(w3, cursor: EvmCursor) -> int:
    """Walk back from the newest stored block to the first one the chain still has; drop the
    rest. Returns how many pending transfers were orphaned."""
    stale = []
    stored = list(EvmBlock.objects.order_by("-number").values_list("number", "hash")[: settings.FORGE_EVM_REORG_DEPTH])
    for number, stored_hash in stored:
        block = w3.eth.get_block(number) if number <= w3.eth.block_number else None
        if block is not None and _hex(block["hash"]) == stored_hash:
            break
        stale.append(number)
    else:
        if stored and len(stored) == settings.FORGE_EVM_REORG_DEPTH:
            raise ReorgTooDeep(f"none of the last {len(stored)} stored blocks is on the chain any more")
    if not stale:
        return 0
    fork = min(stale)
    credited = ChainTransfer.objects.filter(
        chain=ChainKind.EVM, block_number__gte=fork, status=ChainTransfer.Status.CREDITED
    )
    if credited.exists():
        raise ReorgTooDeep(f"block {fork} held credited transfers {list(credited.values_list('pk', flat=True))}")
    orphaned = ChainTransfer.objects.filter(
        chain=ChainKind.EVM, block_number__gte=fork, status=ChainTransfer.Status.PENDING
    ).update(status=ChainTransfer.Status.ORPHANED, reason=f"its block left the chain (reorg from block {fork})")
    EvmBlock.objects.filter(number__gte=fork).delete()
    cursor.next_block = min(cursor.next_block, fork)
    cursor.save(update_fields=["next_block", "updated_at"])
    logger.warning("EVM reorg from block %s: %s pending transfers orphaned", fork, orphaned)
    return orphaned


def _scan(w3, cursor: EvmCursor, head: int, max_blocks: int) -> tuple[int, int]:
    treasury = treasury_address()
    # Senders with open announcements, and their amounts: a transfer of exactly such an amount
    # from such a wallet to another address is a likely mistake, recorded for staff.
    expected: dict[str, set[int]] = {}
    for address, amount in DepositIntent.objects.filter(status=DepositIntent.Status.OPEN).values_list(
        "wallet__address", "amount"
    ):
        expected.setdefault(address, set()).add(int(amount))
    scanned = seen = 0
    previous = EvmBlock.objects.filter(number=cursor.next_block - 1).values_list("hash", flat=True).first()
    while cursor.next_block <= head and scanned < max_blocks:
        number = cursor.next_block
        block = w3.eth.get_block(number, full_transactions=True)
        if previous is not None and _hex(block["parentHash"]) != previous:
            break  # the chain changed under us: the next run's reorg check handles it
        try:
            with transaction.atomic():  # a block is recorded whole or not at all
                seen += _scan_block(w3, block, treasury, expected)
        except _ChainMoved:
            break
        previous = _hex(block["hash"])
        cursor.next_block = number + 1
        scanned += 1
    cursor.save(update_fields=["next_block", "updated_at"])
    return scanned, seen


def _scan_block(w3, block, treasury: str, expected: dict[str, set[int]]) -> int:
    number, block_hash = block["number"], _hex(block["hash"])
    seen = 0
    for tx in block["transactions"]:
        value, to = int(tx["value"]), tx.get("to") or ""
        wanted = to == treasury or (value in expected.get(tx["from"], ()) and to != treasury)
        # A failed call moves no value: only successful transactions count.
        if value > 0 and wanted and w3.eth.get_transaction_receipt(tx["hash"])["status"] == 1:
            seen += _record(
                tx_hash=_hex(tx["hash"]),
                index=NATIVE_INDEX,
                number=number,
                block_hash=block_hash,
                contract="",
                sender=tx["from"],
                to=to,
                amount=value,
            )
    # By number, then checked against the block's hash (eth-tester has no blockHash filter).
    logs = w3.eth.get_logs({"fromBlock": number, "toBlock": number, "topics": [TRANSFER_TOPIC, None, _topic(treasury)]})
    if expected:  # announced senders paying exactly an announced amount elsewhere
        sent = w3.eth.get_logs(
            {"fromBlock": number, "toBlock": number, "topics": [TRANSFER_TOPIC, [_topic(a) for a in expected]]}
        )
        logs += [
            log
            for log in sent
            if len(log["topics"]) == 3
            and _address(log["topics"][2]) != treasury
            and int.from_bytes(log["data"], "big") in expected.get(_address(log["topics"][1]), ())
        ]
    if any(_hex(log["blockHash"]) != block_hash for log in logs):
        raise _ChainMoved
    for log in logs:
        if len(log["topics"]) != 3 or len(log["data"]) != 32:
            continue  # ERC-721 and other non-ERC-20 Transfer events carry no amount
        receipt_logs = w3.eth.get_transaction_receipt(log["transactionHash"])["logs"]
        index = next(i for i, item in enumerate(receipt_logs) if item["logIndex"] == log["logIndex"])
        seen += _record(
            tx_hash=_hex(log["transactionHash"]),
            index=index,
            number=number,
            block_hash=block_hash,
            contract=log["address"],
            sender=_address(log["topics"][1]),
            to=_address(log["topics"][2]),
            amount=int.from_bytes(log["data"], "big"),
        )
    EvmBlock.objects.create(number=number, hash=block_hash)
    return seen


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:].lower()


def _address(topic) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address("0x" + _hex(topic)[-40:])


def _record(*, tx_hash, index, number, block_hash, contract, sender, to, amount) -> int:
    """Store a transfer once; a transaction re-included after a reorg is pending again."""
    from eth_utils import to_checksum_address

    contract = to_checksum_address(contract) if contract else ""
    sender = to_checksum_address(sender)
    to = to_checksum_address(to) if to else ""
    asset = ChainAsset.objects.filter(contract_address=contract).select_related("token").first()
    row, created = ChainTransfer.objects.get_or_create(
        chain=ChainKind.EVM,
        tx_hash=tx_hash,
        log_index=index,
        defaults={
            "block_number": number,
            "block_hash": block_hash,
            "contract_address": contract,
            "token": asset.token if asset else None,
            "from_address": sender,
            "to_address": to,
            "amount": amount,
        },
    )
    if not created and row.status == ChainTransfer.Status.ORPHANED:
        row.block_number, row.block_hash = number, block_hash
        row.status, row.reason = ChainTransfer.Status.PENDING, ""
        row.save(update_fields=["block_number", "block_hash", "status", "reason"])
    if row.status == ChainTransfer.Status.PENDING:
        intent, _ = _match(row)
        if intent is not None and row.intent_id != intent.pk:
            row.intent = intent  # shown as pending on the factory's page
            row.save(update_fields=["intent"])
    return int(created)


def _match(transfer: ChainTransfer) -> tuple[DepositIntent | None, str]:
    """The open intent this transfer pays, or None and why not."""
    if transfer.to_address != treasury_address():
        return None, f"sent to {transfer.to_address or 'a new contract'}, not to the treasury"
    if transfer.token is None:
        return None, f"wrong token: contract {transfer.contract_address} is not accepted"
    wallet = Wallet.objects.filter(chain=ChainKind.EVM, address=transfer.from_address, unlinked_at__isnull=True).first()
    if wallet is None:
        return None, f"sender {transfer.from_address} is not a linked wallet"
    intent = DepositIntent.objects.filter(
        wallet=wallet, token=transfer.token, amount=transfer.amount, status=DepositIntent.Status.OPEN
    ).first()
    if intent is None:
        amount = format_amount(int(transfer.amount), decimals=transfer.token.decimals, trim=True)
        return None, f"no open deposit of exactly {amount} {transfer.token.symbol} from {wallet.address}"
    return intent, ""


@transaction.atomic(durable=True)
def transfer_settle(*, transfer_id: int, refused_tokens: dict[int, str] | None = None) -> str:
    """Credit a confirmed transfer to its intent's factory, once, or mark it unmatched
    (chain/services/credit.py). `refused_tokens` ({token id: why}, from `asset_decimals_check`)
    names tokens this run must not credit."""
    transfer = chain_transfer_lock(transfer_id, related=("token",))
    if transfer.status != ChainTransfer.Status.PENDING:
        return transfer.status
    if not EvmBlock.objects.filter(number=transfer.block_number, hash=transfer.block_hash).exists():
        return transfer.status  # its block is not the one we checked: the next run decides
    intent, reason = _match(transfer)
    if transfer.token_id in (refused_tokens or {}):
        intent, reason = None, refused_tokens[transfer.token_id]  # its amounts cannot be read right
    return intent_credit(transfer=transfer, intent_id=intent.pk if intent else None, reason=reason)


def _pending_evm():
    return ChainTransfer.objects.filter(chain=ChainKind.EVM, status=ChainTransfer.Status.PENDING)


def _prune(cursor: EvmCursor) -> None:
    """Forget the hashes of blocks older than the reorg window, but never that of a block a
    pending transfer is in: `transfer_settle` credits only a transfer whose block hash it has
    (a run that scans more blocks than the window, or a token left unsettled for longer, would
    otherwise leave such a transfer pending for ever). Only those blocks are kept, not the
    span from the oldest of them: a transfer that waits long does not grow the table."""
    EvmBlock.objects.filter(number__lt=cursor.next_block - settings.FORGE_EVM_REORG_DEPTH).exclude(
        number__in=_pending_evm().values("block_number")
    ).delete()


def _restore_checked_blocks(w3, cursor: EvmCursor) -> None:
    """A pending transfer below the reorg window whose block's hash was pruned before this
    version kept them: read the block from the node again and keep its hash when the transfer's
    block is still on the chain (when not, the transfer stays pending and `_stale_pending` shows
    it to staff). Inside the window a reorg orphans the transfers of every block it drops."""
    lost = (
        _pending_evm()
        .filter(block_number__lt=cursor.next_block - settings.FORGE_EVM_REORG_DEPTH)
        .exclude(block_number__in=EvmBlock.objects.values("number"))
        .order_by("block_number")
        .values_list("block_number", "block_hash")
        .distinct()
    )
    for number, block_hash in lost:
        if _hex(w3.eth.get_block(number)["hash"]) == block_hash:
            EvmBlock.objects.get_or_create(number=number, defaults={"hash": block_hash})


def _stale_pending(head: int, unreadable_tokens: dict[int, str]) -> list[str]:
    """Pending transfers with more than FORGE_EVM_CONFIRMATIONS + FORGE_EVM_REORG_DEPTH
    confirmations, each with why it waits as far as we can tell: they should have settled long
    ago, so staff see them (logged as errors, listed in the run's report)."""
    oldest_allowed = head - settings.FORGE_EVM_CONFIRMATIONS - settings.FORGE_EVM_REORG_DEPTH + 1
    stale = []
    for transfer in _pending_evm().filter(block_number__lt=oldest_allowed).order_by("block_number", "pk"):
        why = unreadable_tokens.get(transfer.token_id, "its block is no longer on the chain as it was seen")
        stale.append(
            f"transfer {transfer.pk} ({transfer.tx_hash}, block {transfer.block_number}) pending for "
            f"{head - transfer.block_number + 1} blocks: {why}"
        )
        logger.error("EVM watcher: %s", stale[-1])
    return stale
