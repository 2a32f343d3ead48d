"""Payouts sent by the system, on Solana: withdrawals in SOL and SPL tokens paid from the hot
wallet, exactly once. The EVM rules (chain/services/payouts.py) with Solana's notion of a dead
transaction.

One run (`solana_payouts_run`, Celery beat `chain.solana_payouts`) follows the shared skeleton
of chain/services/runs.py: it holds the `solana` payout run lease (a second run skips; a killed
process's lease expires by itself) and:

1. **tracks** every live transaction (`signed`, `broadcast`; chain/payout_models.py). It
   first reads the cluster's block height at `finalized`, then each signature's status:
   - `finalized`: the transaction is read; succeeded -> `confirmed` and the withdrawal is
     recorded sent through the ledger (`withdrawal_sent_record`); failed -> `failed` and the
     amount goes back to the balance (`withdrawal_failed_return`);
   - absent, and the finalized block height (read before the status) is past the
     transaction's `last_valid_block_height`: **dead**. Its blockhash has expired on the
     finalized chain, so no block can include it any more, and the signature is nowhere:
     the withdrawal gets a new transaction (new blockhash) in step 2;
   - otherwise (processed, confirmed, or absent while the blockhash may still be valid): in
     doubt, so the stored bytes are **re-sent as they are** (same signature: the cluster
     executes one signature at most once).
2. **signs** new transactions, up to FORGE_SOLANA_PAYOUTS_PER_RUN: first for withdrawals whose
   transaction died, then `pending` withdrawals of the Solana tokens the server knows (SOL and
   the mints of FORGE_SOLANA_MINTS), oldest first. One blockhash per run (with its last valid
   block height). Each in its own database transaction: the withdrawal `pending` -> `sending`
   and the row with the signed bytes, blockhash and last valid block height committed
   together, **before** anything is sent. A withdrawal the hot wallet cannot cover stays
   pending. SOL: a System transfer. SPL: the recipient's associated token account created if
   missing (idempotent, paid by the hot wallet) and a `TransferChecked` of the exact units with
   the mint's decimals, under the mint's own token program (Token or Token-2022);
3. **sends** the rows just signed and marks them `broadcast`.

Limits and approval are the withdrawal's (accounts: `approval` until staff approve): the run
only takes `pending` withdrawals. The hot wallet pays the fees; the user receives the exact
amount requested. The cluster is reached through a `source`: `PayoutRpc` (JSON-RPC) in
production, tests/chain/solana_svm.py (LiteSVM) in the tests.
"""

from __future__ import annotations

import base64
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Withdrawal
from accounts.services import withdrawal_failed_return, withdrawal_sending_mark, withdrawal_sent_record

from ..locks import solana_payout_lock
from ..models import ChainKind, SolanaPayout
from .runs import RunReport, no_lease, payout_run
from .solana import (
    ATA_PROGRAM,
    FINALIZED,
    NATIVE,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAMS,
    RpcSource,
    associated_token_address,
    solana_mints,
)

logger = logging.getLogger(__name__)

# Lamports the hot wallet keeps per transfer beyond the amount: the fee (5000 per signature,
# with room for a priority fee) and, for SPL, the rent of the recipient's token account if the
# transfer has to create it (a Token-2022 account with its immutable-owner extension: 2_074_080;
# a classic Token account, 165 bytes: 2_039_280).
FEE_RESERVE = 20_000
ACCOUNT_RENT_RESERVE = 2_100_000
# Errors a node gives when the exact bytes were already executed: in doubt, not lost.
ALREADY_PROCESSED = ("alreadyprocessed", "already been processed")


class PayoutRpc(RpcSource):
    """The JSON-RPC half of the payout source (the watcher's `statuses` and `transaction`, plus
    what paying needs)."""

    def block_height(self) -> int:
        return int(self._call("getBlockHeight", [{"commitment": FINALIZED}]))

    def latest_blockhash(self) -> tuple[str, int]:
        value = self._call("getLatestBlockhash", [{"commitment": FINALIZED}])["value"]
        return value["blockhash"], int(value["lastValidBlockHeight"])

    def send_transaction(self, raw: bytes) -> str:
        # No preflight: a transfer that fails lands as failed (its fee paid) and the tracking
        # step returns the money; a preflight refusal would leave it in doubt until it expires.
        return self._call(
            "sendTransaction",
            [base64.b64encode(raw).decode(), {"encoding": "base64", "skipPreflight": True}],
        )

    def mint_info(self, mint: str) -> tuple[str, int] | None:
        """(token program, decimals) of a mint, or None when the account is not a mint."""
        value = self._call("getAccountInfo", [mint, {"commitment": FINALIZED, "encoding": "jsonParsed"}])["value"]
        try:
            return value["owner"], int(value["data"]["parsed"]["info"]["decimals"])
        except (TypeError, KeyError, ValueError):
            return None

    def balance(self, owner: str, mint: str, token_program: str = "") -> int:
        """What `owner` holds: lamports for SOL, else base units in its associated token account."""
        if mint == NATIVE:
            return int(self._call("getBalance", [owner, {"commitment": "confirmed"}])["value"])
        account = associated_token_address(owner, mint, token_program)
        result = self._call("getAccountInfo", [account, {"commitment": "confirmed", "encoding": "jsonParsed"}])
        if result["value"] is None:
            return 0
        return int(result["value"]["data"]["parsed"]["info"]["tokenAmount"]["amount"])


@dataclass
class SolanaPayoutReport(RunReport):
    height: int = 0
    resent: int = 0
    sent: int = 0


def solana_payouts_run(*, source=None, signer=None, limit: int | None = None) -> SolanaPayoutReport:
    """One payout run (see the module docstring). Safe at any time, from any process."""
    from ..signer import solana_hot_wallet

    source = source or PayoutRpc()
    signer = signer or solana_hot_wallet()
    report = SolanaPayoutReport()
    return payout_run(
        lease=ChainKind.SOLANA,
        report=report,
        track=lambda renew: solana_payouts_track(source=source, signer=signer, report=report, renew=renew),
        sign=lambda renew: solana_payouts_sign(source=source, signer=signer, report=report, limit=limit, renew=renew),
        send=lambda payout_id: solana_payout_send(source=source, payout_id=payout_id, report=report),
    )


# ---- 1. tracking ------------------------------------------------------------------------------


def solana_payouts_track(*, source, signer, report: SolanaPayoutReport, renew: Callable[[], None] = no_lease) -> None:
    live = list(
        SolanaPayout.objects.filter(from_address=signer.address, status__in=SolanaPayout.LIVE)
        .order_by("pk")
        .values_list("pk", "signature")
    )
    if not live:
        return
    # The height first, the statuses after: a signature absent *after* the finalized chain
    # passed its last valid height can no longer land.
    report.height = source.block_height()
    statuses = source.statuses([signature for _, signature in live])
    for payout_id, signature in live:
        renew()
        status = statuses.get(signature)
        payout = SolanaPayout.objects.get(pk=payout_id)
        if status == FINALIZED:
            tx = source.transaction(signature)
            if tx is not None:
                _settle(payout, failed=tx.failed, report=report)
                continue
        if status is None and report.height > payout.last_valid_block_height:
            _mark_dead(payout, report)
            continue
        solana_payout_send(source=source, payout_id=payout.pk, report=report, again=True)


def _settle(payout: SolanaPayout, *, failed: bool, report: SolanaPayoutReport) -> None:
    with transaction.atomic(durable=True):
        payout = solana_payout_lock(payout.pk)
        if payout.status not in SolanaPayout.LIVE:
            return
        payout.settled_at = timezone.now()
        if failed:
            payout.status, payout.note = SolanaPayout.Status.FAILED, "failed on chain"
            withdrawal_failed_return(
                withdrawal_id=payout.withdrawal_id,
                reason="the transfer failed on chain; the amount is back in your balance",
                chain_ref=payout.signature,
            )
            report.failed += 1
        else:
            payout.status = SolanaPayout.Status.CONFIRMED
            withdrawal_sent_record(withdrawal_id=payout.withdrawal_id, chain_ref=payout.signature)
            report.confirmed += 1
        payout.save(update_fields=["status", "settled_at", "note"])
    logger.info("Solana payout %s %s", payout, payout.status)


def _mark_dead(payout: SolanaPayout, report: SolanaPayoutReport) -> None:
    note = f"blockhash expired (finalized height {report.height} > {payout.last_valid_block_height}), never landed"
    if SolanaPayout.objects.filter(pk=payout.pk, status__in=SolanaPayout.LIVE).update(
        status=SolanaPayout.Status.DEAD, note=note[:255], settled_at=timezone.now()
    ):
        report.dead += 1
        logger.warning(
            "Solana payout %s is dead (%s); withdrawal %s gets a new one", payout, note, payout.withdrawal_id
        )


# ---- 2. signing -------------------------------------------------------------------------------


def solana_payouts_sign(
    *, source, signer, report: SolanaPayoutReport, limit: int | None = None, renew: Callable[[], None] = no_lease
) -> list[int]:
    """Sign (and store) transactions for the withdrawals waiting; the new rows' ids."""
    limit = settings.FORGE_SOLANA_PAYOUTS_PER_RUN if limit is None else limit
    mints = solana_mints()
    taken = SolanaPayout.objects.filter(status__in=[*SolanaPayout.LIVE, SolanaPayout.Status.CONFIRMED])
    orphans = list(
        Withdrawal.objects.filter(status=Withdrawal.Status.SENDING, token__chain=ChainKind.SOLANA)
        .exclude(pk__in=taken.values("withdrawal_id"))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    fresh = list(
        Withdrawal.objects.filter(
            status=Withdrawal.Status.PENDING, token__chain=ChainKind.SOLANA, token__symbol__in=list(mints)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[: max(limit - len(orphans), 0)]
    )
    if not orphans and not fresh:
        return []
    blockhash = source.latest_blockhash()
    budget: dict[str, int] = {}
    programs: dict[str, tuple[str, int] | None] = {}
    signed: list[int] = []
    for withdrawal_id in orphans + fresh:
        renew()
        outcome = _sign_one(
            source=source,
            signer=signer,
            withdrawal_id=withdrawal_id,
            mints=mints,
            blockhash=blockhash,
            budget=budget,
            programs=programs,
        )
        if isinstance(outcome, int):
            signed.append(outcome)
            report.signed += 1
        elif outcome:
            report.waiting.append(f"withdrawal {withdrawal_id}: {outcome}")
    return signed


def _available(source, signer, mint: str, program: str, budget: dict) -> int:
    """What the hot wallet can still spend of `mint` this run: its balance net of the transfers
    signed or sent and not yet finalized (SOL: their amounts and reserves), and of what this run
    signed already. Conservative: a transfer that landed but is not yet finalized counts twice
    (in the balance and in flight) until the next run, so it may delay a payout, never overspend."""
    if mint not in budget:
        live = SolanaPayout.objects.filter(from_address=signer.address, status__in=SolanaPayout.LIVE)
        if mint == NATIVE:
            in_flight = sum(
                FEE_RESERVE + (int(amount) if row_mint == NATIVE else ACCOUNT_RENT_RESERVE)
                for row_mint, amount in live.values_list("mint", "amount")
            )
        else:
            in_flight = sum(int(amount) for amount in live.filter(mint=mint).values_list("amount", flat=True))
        budget[mint] = source.balance(signer.address, mint, program) - in_flight
    return budget[mint]


def _sign_one(*, source, signer, withdrawal_id: int, mints: dict, blockhash, budget: dict, programs: dict) -> int | str:
    """Take one withdrawal and store its signed transaction; the row's id, or why not."""
    from solders.keypair import Keypair

    with transaction.atomic(durable=True):
        withdrawal = Withdrawal.objects.select_related("token").get(pk=withdrawal_id)
        mint = mints.get(withdrawal.token.symbol)
        if mint is None:
            return f"{withdrawal.token.symbol} has no Solana mint"
        amount = int(withdrawal.amount)
        program = ""
        if mint != NATIVE:
            if mint not in programs:
                programs[mint] = source.mint_info(mint)
            info = programs[mint]
            if info is None or info[1] != withdrawal.token.decimals:
                return f"the mint of {withdrawal.token.symbol} is not a mint with {withdrawal.token.decimals} decimals"
            if info[0] not in TOKEN_PROGRAMS:
                # The instructions would name this program as the token program: never sign that.
                return f"the mint of {withdrawal.token.symbol} belongs to {info[0]}, not to a token program"
            program = info[0]
        lamports = FEE_RESERVE + (amount if mint == NATIVE else ACCOUNT_RENT_RESERVE)
        if mint != NATIVE and _available(source, signer, mint, program, budget) < amount:
            return f"the hot wallet holds too little {withdrawal.token.symbol}"
        if _available(source, signer, NATIVE, "", budget) < lamports:
            return "the hot wallet holds too little SOL for the amount and the fees"
        reference = str(Keypair().pubkey())
        try:
            message = _message(
                payer=signer.address,
                to=withdrawal.address,
                mint=mint,
                program=program,
                amount=amount,
                decimals=withdrawal.token.decimals,
                blockhash=blockhash[0],
                reference=reference,
            )
        except ValueError:
            return "the address is not a Solana public key"

        if withdrawal.status == Withdrawal.Status.PENDING:
            if withdrawal_sending_mark(withdrawal_id=withdrawal.pk) is None:
                return ""
        else:  # `sending`, its transaction dead: lock it and check again under the lock
            from accounts.locks import withdrawal_lock

            withdrawal = withdrawal_lock(withdrawal.pk)
            taken = SolanaPayout.objects.filter(
                withdrawal_id=withdrawal.pk, status__in=[*SolanaPayout.LIVE, SolanaPayout.Status.CONFIRMED]
            )
            if withdrawal.status != Withdrawal.Status.SENDING or taken.exists():
                return ""
        signed = signer.sign(message)
        payout = SolanaPayout.objects.create(
            withdrawal_id=withdrawal.pk,
            token_id=withdrawal.token_id,
            mint=mint,
            from_address=signer.address,
            to_address=withdrawal.address,
            amount=amount,
            reference=reference,
            recent_blockhash=blockhash[0],
            last_valid_block_height=blockhash[1],
            raw_tx=base64.b64encode(signed.raw).decode(),
            signature=signed.tx_hash,
        )
        budget[NATIVE] -= lamports
        if mint != NATIVE:
            budget[mint] -= amount
    logger.info("Solana payout %s signed for withdrawal %s", payout, withdrawal_id)
    return payout.pk


def _message(
    *, payer: str, to: str, mint: str, program: str, amount: int, decimals: int, blockhash: str, reference: str
):
    """The transaction's message: a System transfer of lamports, or (SPL) the recipient's
    associated token account created if missing and a TransferChecked. ValueError for an
    address that is not a public key."""
    from solders.hash import Hash
    from solders.instruction import AccountMeta, Instruction
    from solders.message import Message
    from solders.pubkey import Pubkey

    payer_key, to_key = Pubkey.from_string(payer), Pubkey.from_string(to)
    tag = AccountMeta(Pubkey.from_string(reference), False, False)
    if mint == NATIVE:
        data = struct.pack("<IQ", 2, amount)  # System: Transfer
        instructions = [
            Instruction(
                Pubkey.from_string(SYSTEM_PROGRAM),
                data,
                [AccountMeta(payer_key, True, True), AccountMeta(to_key, False, True), tag],
            )
        ]
    else:
        mint_key, program_key = Pubkey.from_string(mint), Pubkey.from_string(program)
        source = Pubkey.from_string(associated_token_address(payer, mint, program))
        destination = Pubkey.from_string(associated_token_address(to, mint, program))
        instructions = [
            Instruction(
                Pubkey.from_string(ATA_PROGRAM),
                b"\x01",  # CreateIdempotent
                [
                    AccountMeta(payer_key, True, True),
                    AccountMeta(destination, False, True),
                    AccountMeta(to_key, False, False),
                    AccountMeta(mint_key, False, False),
                    AccountMeta(Pubkey.from_string(SYSTEM_PROGRAM), False, False),
                    AccountMeta(program_key, False, False),
                ],
            ),
            Instruction(
                program_key,
                bytes([12]) + struct.pack("<Q", amount) + bytes([decimals]),  # TransferChecked
                [
                    AccountMeta(source, False, True),
                    AccountMeta(mint_key, False, False),
                    AccountMeta(destination, False, True),
                    AccountMeta(payer_key, True, False),
                    tag,
                ],
            ),
        ]
    return Message.new_with_blockhash(instructions, payer_key, Hash.from_string(blockhash))


# ---- 3. sending -------------------------------------------------------------------------------


def solana_payout_send(*, source, payout_id: int, report: SolanaPayoutReport, again: bool = False) -> None:
    """Send the stored bytes; a cluster that already executed them is fine."""
    payout = SolanaPayout.objects.get(pk=payout_id)
    try:
        source.send_transaction(base64.b64decode(payout.raw_tx))
    except Exception as error:
        if not any(marker in str(error).lower() for marker in ALREADY_PROCESSED):
            logger.warning("Solana payout %s: send refused (%s); retried next run", payout, error)
            SolanaPayout.objects.filter(pk=payout.pk).update(note=f"send refused: {error}"[:255])
            return
    SolanaPayout.objects.filter(pk=payout.pk, status=SolanaPayout.Status.SIGNED).update(
        status=SolanaPayout.Status.BROADCAST, broadcast_at=timezone.now()
    )
    SolanaPayout.objects.filter(pk=payout.pk).update(sends=payout.sends + 1)
    if again:
        report.resent += 1
    else:
        report.sent += 1
