"""Solana deposits: Solana Pay requests with a unique `reference`, and the watcher that credits
a finalized transfer once.

**The request.** `solana_deposit_intent_create` opens an intent for this exact amount of the
factory's token (SOL, or an SPL mint named in FORGE_SOLANA_MINTS) with a fresh `reference`
public key (nobody holds its secret: it only tags the transaction) and returns it with a
Solana Pay URL (`solana:<treasury>?amount=…&spl-token=<mint>&reference=<ref>`). A wallet that
follows the spec lists the reference as a read-only account of the transfer instruction, so
`getSignaturesForAddress(reference)` finds the payment, and the reference names one intent.

**The watcher** (`solana_watch`, Celery beat `chain.solana_watch`) reads, through a `source`
(below), the signatures of every address it watches: the treasury, its token accounts for the
accepted mints (the associated token accounts under both token programs), and the reference
of every open intent. Per address it resumes from a stored cursor (`SolanaCursor`:
`until=last_signature`) and reads at `confirmed` commitment, oldest first:
- a failed transaction is skipped; every transfer instruction in a successful one that pays
  the treasury or carries one of our references is stored once per (chain, signature,
  instruction index) as a `ChainTransfer` (`pending`, shown on the factory's page);
- a transfer whose signature is `finalized` is settled in its own database transaction:
  credited through `intent_credit` (chain/services/credit.py, shared with the EVM watcher)
  when it matches its intent exactly (reference, recipient = treasury, mint, decimals, amount,
  and for an SPL token that amount is what arrived: the treasury token account's balance
  change in that transaction), otherwise `unmatched` with the reason, for staff (wrong mint,
  wrong recipient, no reference, dust or any other amount, a transfer fee withheld, closed
  intent);
- the cursor moves only over signatures that are finalized with every older one, so a
  restart (or a crash anywhere) re-reads the not-yet-final tail and the unique key stores
  nothing twice.
A `pending` transfer whose signature the cluster no longer knows FORGE_SOLANA_DROP_AFTER_SECONDS
after it was seen (its fork died) becomes `orphaned`, never credited.

**The source** is a thin adapter with three calls (`signatures`, `transaction`, `statuses`) and
one shape of parsed transaction (`SolanaTx`): `RpcSource` speaks JSON-RPC to
FORGE_SOLANA_RPC_URL; the tests drive the same watcher with a source over solders' LiteSVM
(tests/chain/solana_svm.py), a real Solana runtime with the SPL token programs.
"""

from __future__ import annotations

import logging
import secrets
import struct
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from solders import system_program as solders_system_program
from solders import token as solders_token

from core.exceptions import Conflict, Forbidden
from core.money import format_amount, parse_amount

from ..locks import chain_transfer_lock
from ..models import ChainKind, ChainTransfer, DepositIntent, SolanaCursor
from .credit import intent_credit

logger = logging.getLogger(__name__)

# Program ids from solders where it names them. solders 0.29 names neither Token-2022's nor the
# associated token account program's: those are typed, and the tests check them against the
# programs LiteSVM loads and against solders' own ATA derivation (tests/chain/test_solana_ids.py).
SYSTEM_PROGRAM = str(solders_system_program.ID)
TOKEN_PROGRAM = str(solders_token.ID)
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
NATIVE = ""  # the mint of SOL itself, in ChainTransfer.contract_address

FINALIZED = "finalized"


# ---- The adapter's shapes -------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureInfo:
    signature: str
    slot: int
    failed: bool
    status: str | None  # "processed" | "confirmed" | "finalized"


@dataclass(frozen=True)
class Instruction:
    program: str
    accounts: tuple[str, ...]
    data: bytes


@dataclass(frozen=True)
class SolanaTx:
    signature: str
    slot: int
    failed: bool
    instructions: tuple[Instruction, ...]
    # token account address -> (mint, owner), from the transaction's token balances
    token_accounts: dict[str, tuple[str, str]] = field(default_factory=dict)
    # token account address -> what this transaction changed its balance by (post minus pre,
    # base units; from the meta's token balances): what actually arrived, transfer fees withheld
    token_deltas: dict[str, int] = field(default_factory=dict)
    # token account address -> its mint's decimals (the token balances' uiTokenAmount.decimals):
    # what a plain Transfer, which names neither mint nor decimals, is counted in
    token_decimals: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SolanaTransfer:
    index: int  # the instruction's index in the transaction
    mint: str  # NATIVE for SOL
    sender: str  # the paying wallet (SOL: the from account; SPL: the token account's authority)
    recipient: str  # the wallet that receives (SOL: the to account; SPL: the owner of the destination)
    amount: int  # base units
    # SPL: the mint's decimals (stated by transferChecked, which the token program checks against
    # the mint; for a plain Transfer, the destination's token balance says); None for SOL, or
    # for a plain Transfer whose token balances do not say (never credited then)
    decimals: int | None
    extra_accounts: tuple[str, ...]  # where Solana Pay puts the reference
    destination: str = ""  # SPL: the token account credited; SOL: the recipient itself


class SourceError(Exception):
    """The RPC endpoint failed or answered something unexpected: the run stops, nothing half-done."""


class RpcSource:
    """JSON-RPC over HTTP (httpx) to a Solana node or provider: the production half of the
    adapter. Reads at `confirmed` commitment; asks each signature's status separately."""

    def __init__(self, url: str | None = None, *, timeout: float = 20.0, client=None):
        import httpx

        self.url = url or settings.FORGE_SOLANA_RPC_URL
        self.client = client or httpx.Client(timeout=timeout)
        self._id = 0

    def _call(self, method: str, params: list):
        self._id += 1
        try:
            response = self.client.post(
                self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
            )
            response.raise_for_status()
            body = response.json()
        except Exception as error:  # network, HTTP status, not JSON
            raise SourceError(f"{method}: {error}") from error
        if not isinstance(body, dict) or "error" in body or "result" not in body:
            raise SourceError(f"{method}: {body.get('error') if isinstance(body, dict) else body!r}")
        return body["result"]

    def signatures(self, address: str, *, until: str | None, before: str | None, limit: int) -> list[SignatureInfo]:
        config = {"commitment": "confirmed", "limit": limit}
        if until:
            config["until"] = until
        if before:
            config["before"] = before
        rows = self._call("getSignaturesForAddress", [address, config])
        return [
            SignatureInfo(
                signature=row["signature"],
                slot=int(row["slot"]),
                failed=row.get("err") is not None,
                status=row.get("confirmationStatus"),
            )
            for row in rows
        ]

    def transaction(self, signature: str) -> SolanaTx | None:
        result = self._call(
            "getTransaction",
            [signature, {"commitment": "confirmed", "encoding": "json", "maxSupportedTransactionVersion": 0}],
        )
        return None if result is None else tx_from_rpc_json(signature, result)

    def statuses(self, signatures: list[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for start in range(0, len(signatures), 256):
            chunk = signatures[start : start + 256]
            result = self._call("getSignatureStatuses", [chunk, {"searchTransactionHistory": True}])
            for signature, status in zip(chunk, result["value"], strict=True):
                # A status object means the transaction landed; its confirmationStatus may be null
                # (the RPC documents it nullable): never read that as absent, which would let a
                # payout be called dead and signed again.
                out[signature] = None if status is None else (status.get("confirmationStatus") or "processed")
        return out


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text: str) -> bytes:
    """Bitcoin-alphabet base58 (instruction data in `getTransaction` "json" encoding)."""
    number = 0
    for char in text:
        digit = _B58.find(char)
        if digit < 0:
            raise SourceError(f"not base58: {text[:20]!r}")
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def tx_from_rpc_json(signature: str, result: dict) -> SolanaTx:
    """`getTransaction` (encoding "json") -> SolanaTx. Loaded addresses of a v0 transaction
    follow the static keys (writable, then read-only), as the runtime orders them."""
    meta = result.get("meta") or {}
    message = result["transaction"]["message"]
    keys = list(message["accountKeys"])
    loaded = meta.get("loadedAddresses") or {}
    keys += list(loaded.get("writable", [])) + list(loaded.get("readonly", []))
    instructions = tuple(
        Instruction(
            program=keys[ix["programIdIndex"]],
            accounts=tuple(keys[i] for i in ix["accounts"]),
            data=b58decode(ix["data"]),
        )
        for ix in message["instructions"]
    )
    pre, post = meta.get("preTokenBalances") or [], meta.get("postTokenBalances") or []
    token_accounts = {keys[b["accountIndex"]]: (b["mint"], b.get("owner", "")) for b in post + pre}
    token_decimals = {keys[b["accountIndex"]]: int(b["uiTokenAmount"]["decimals"]) for b in post + pre}
    deltas: dict[str, int] = {}
    for balances, sign in ((post, 1), (pre, -1)):  # an account absent before held nothing
        for b in balances:
            account = keys[b["accountIndex"]]
            deltas[account] = deltas.get(account, 0) + sign * int(b["uiTokenAmount"]["amount"])
    return SolanaTx(
        signature=signature,
        slot=int(result["slot"]),
        failed=meta.get("err") is not None,
        instructions=instructions,
        token_accounts=token_accounts,
        token_deltas=deltas,
        token_decimals=token_decimals,
    )


# ---- Parsing transfers ------------------------------------------------------------------------


def transfers_in(tx: SolanaTx) -> list[SolanaTransfer]:
    """The top-level SOL and SPL token transfers of a transaction, in instruction order.
    System `Transfer` (2); token `Transfer` (3) and `TransferChecked` (12) under either token
    program. Other instructions (and transfers made by programs, inner instructions) are not
    payments we accept: a wallet following Solana Pay makes a top-level transfer."""
    found = []
    for index, ix in enumerate(tx.instructions):
        if ix.program == SYSTEM_PROGRAM and len(ix.data) == 12 and ix.data[:4] == struct.pack("<I", 2):
            if len(ix.accounts) < 2:
                continue
            (lamports,) = struct.unpack("<Q", ix.data[4:12])
            found.append(
                SolanaTransfer(
                    index, NATIVE, ix.accounts[0], ix.accounts[1], lamports, None, ix.accounts[2:], ix.accounts[1]
                )
            )
        elif ix.program in TOKEN_PROGRAMS and ix.data[:1] == b"\x0c" and len(ix.data) == 10 and len(ix.accounts) >= 4:
            _source, mint, destination, authority = ix.accounts[:4]
            (amount,) = struct.unpack("<Q", ix.data[1:9])
            owner = tx.token_accounts.get(destination, ("", ""))[1]
            found.append(
                SolanaTransfer(
                    index, mint, authority, owner or destination, amount, ix.data[9], ix.accounts[4:], destination
                )
            )
        elif ix.program in TOKEN_PROGRAMS and ix.data[:1] == b"\x03" and len(ix.data) == 9 and len(ix.accounts) >= 3:
            _source, destination, authority = ix.accounts[:3]
            (amount,) = struct.unpack("<Q", ix.data[1:9])
            mint, owner = tx.token_accounts.get(destination, ("", ""))
            if not mint:
                continue  # no token balance for the destination: not a transfer we can read
            decimals = tx.token_decimals.get(destination)
            found.append(
                SolanaTransfer(
                    index, mint, authority, owner or destination, amount, decimals, ix.accounts[3:], destination
                )
            )
    return found


# ---- Configuration ------------------------------------------------------------------------------


def solana_mints() -> dict[str, str]:
    """Ledger token symbol -> mint (NATIVE for SOL). SOL is always native; the SPL mints come
    from FORGE_SOLANA_MINTS ("USDC=<mint>,CLONES=<mint>")."""
    mints = {"SOL": NATIVE}
    for symbol, mint in (settings.FORGE_SOLANA_MINTS or {}).items():
        if mint:
            mints[symbol.upper()] = mint
    return mints


def treasury() -> str:
    return settings.FORGE_SOLANA_TREASURY_ADDRESS


def associated_token_address(owner: str, mint: str, token_program: str) -> str:
    from solders.pubkey import Pubkey

    address, _ = Pubkey.find_program_address(
        [bytes(Pubkey.from_string(owner)), bytes(Pubkey.from_string(token_program)), bytes(Pubkey.from_string(mint))],
        Pubkey.from_string(ATA_PROGRAM),
    )
    return str(address)


def watched_addresses() -> list[str]:
    """The treasury, its associated token accounts for the accepted mints (both token
    programs), and the reference of every open Solana intent."""
    owner = treasury()
    addresses = [owner]
    for mint in solana_mints().values():
        if mint:
            addresses += [associated_token_address(owner, mint, program) for program in TOKEN_PROGRAMS]
    addresses += list(
        DepositIntent.objects.filter(status=DepositIntent.Status.OPEN, reference__isnull=False)
        .order_by("pk")
        .values_list("reference", flat=True)
    )
    return addresses


# ---- Intents ------------------------------------------------------------------------------------


def _new_reference() -> str:
    from solders.pubkey import Pubkey

    return str(Pubkey(secrets.token_bytes(32)))


@transaction.atomic
def solana_deposit_intent_create(*, factory, actor, amount) -> DepositIntent:
    """Open a Solana Pay request for exactly `amount` of the factory's token."""
    from pools.models import Factory

    if factory.creator_id != actor.pk:
        raise Forbidden("Only the factory's creator can fund it.")
    factory = Factory.objects.select_related("token").get(pk=factory.pk)
    if factory.status == Factory.Status.CLOSED:
        raise Conflict("This factory is closed and cannot be funded.")
    token = factory.token
    if token.chain != ChainKind.SOLANA or token.symbol not in solana_mints() or not treasury():
        raise ValidationError({"token": [f"{token.symbol} cannot be deposited on chain here yet (Solana)."]})
    if not token.enabled:
        raise ValidationError({"token": [f"{token.symbol} is disabled: deposits are paused for it."]})
    units = parse_amount(amount, decimals=token.decimals)
    return DepositIntent.objects.create(
        factory=factory, creator=actor, token=token, wallet=None, amount=units, reference=_new_reference()
    )


def solana_pay_url(intent: DepositIntent) -> str:
    """The Solana Pay transfer request (spec: `solana:<recipient>?amount=&spl-token=&reference=`)."""
    mint = solana_mints().get(intent.token.symbol, NATIVE)
    query = {"amount": format_amount(int(intent.amount), decimals=intent.token.decimals, trim=True)}
    if mint:
        query["spl-token"] = mint
    query["reference"] = intent.reference
    query["label"] = "Forge Pools"
    query["message"] = f"Fund factory {intent.factory_id}"
    return f"solana:{treasury()}?{urlencode(query, quote_via=quote)}"


# ---- The watcher --------------------------------------------------------------------------------


@dataclass
class SolanaWatchReport:
    addresses: int = 0
    signatures: int = 0
    seen: int = 0
    credited: int = 0
    unmatched: int = 0
    orphaned: int = 0
    pending: int = 0


def solana_watch(*, source=None, page_size: int | None = None) -> SolanaWatchReport:
    """One run of the watcher (module docstring). Safe to repeat and to interrupt anywhere."""
    source = source or RpcSource()
    page_size = page_size or settings.FORGE_SOLANA_SIGNATURES_PER_PAGE
    report = SolanaWatchReport()
    references = {
        ref: pk for pk, ref in DepositIntent.objects.filter(reference__isnull=False).values_list("pk", "reference")
    }
    for address in watched_addresses():
        report.addresses += 1
        _watch_address(source, address, references, page_size, report)
    _settle_or_drop_pending(source, report)
    return report


def _watch_address(source, address: str, references: dict, page_size: int, report: SolanaWatchReport) -> None:
    cursor, _ = SolanaCursor.objects.get_or_create(address=address)
    until = cursor.last_signature or None
    page, before = [], None
    while True:  # newest first, down to the cursor
        rows = source.signatures(address, until=until, before=before, limit=page_size)
        page += rows
        if len(rows) < page_size:
            break
        before = rows[-1].signature
    report.signatures += len(page)
    all_final = True
    for info in reversed(page):  # oldest first
        if not info.failed:
            tx = source.transaction(info.signature)
            if tx is None:
                all_final = False  # listed but not readable yet: read it again next run
                continue
            report.seen += _store(tx, references)
            if info.status == FINALIZED:
                for transfer_id in ChainTransfer.objects.filter(
                    chain=ChainKind.SOLANA, tx_hash=info.signature, status=ChainTransfer.Status.PENDING
                ).values_list("pk", flat=True):
                    _count(report, solana_transfer_settle(transfer_id=transfer_id))
        if info.status != FINALIZED:
            all_final = False
        if all_final:
            # Everything up to here is final and stored: a later run starts after it.
            SolanaCursor.objects.filter(pk=cursor.pk).update(last_signature=info.signature, updated_at=timezone.now())


def _count(report: SolanaWatchReport, status: str) -> None:
    if status == ChainTransfer.Status.CREDITED:
        report.credited += 1
    elif status == ChainTransfer.Status.UNMATCHED:
        report.unmatched += 1


def _store(tx: SolanaTx, references: dict) -> int:
    """Store the transfers of `tx` that concern us, once each. Returns how many were new."""
    if tx.failed:
        return 0
    own = treasury()
    new = 0
    items = transfers_in(tx)
    for item in items:
        refs = [a for a in item.extra_accounts if a in references]
        if item.recipient != own and not refs:
            continue  # a payment elsewhere that names none of our references: none of our business
        intent_id = references.get(refs[0]) if refs else None
        token = _token_for_mint(item.mint)
        defect = ""
        if token is not None and item.mint != NATIVE and item.decimals is None:
            defect = "the transaction's token balances do not show the mint's decimals: not credited"
        elif token is not None and item.decimals is not None and item.decimals != token.decimals:
            defect = (
                f"the mint has {item.decimals} decimals, {token.symbol} has {token.decimals} here "
                "(a configuration error): not credited"
            )
        elif token is not None and item.mint != NATIVE and item.recipient == own:
            defect = _arrival_defect(tx, item, items)
        _, created = ChainTransfer.objects.get_or_create(
            chain=ChainKind.SOLANA,
            tx_hash=tx.signature,
            log_index=item.index,
            defaults={
                "block_number": tx.slot,
                "block_hash": "",
                "contract_address": item.mint,
                "token": token,
                "from_address": item.sender,
                "to_address": item.recipient,
                "amount": Decimal(item.amount),
                "intent_id": intent_id,
                "reason": defect,  # a defect found on reading: never credited
            },
        )
        new += int(created)
    return new


def _arrival_defect(tx: SolanaTx, item: SolanaTransfer, items: list[SolanaTransfer]) -> str:
    """Why the treasury did not receive what this SPL transfer states, or "". The instruction's
    amount is what the payer sent; a Token-2022 mint with the transfer-fee extension withholds
    its fee from it, so only the token account's balance change shows what arrived (the meta's
    post minus pre token balance). Every transfer instruction of the transaction into that
    account is added up: the balance change must equal their sum, else none is credited and
    staff see both numbers (docs/chain.md, "Token-2022 transfer fees")."""
    sent = sum(other.amount for other in items if other.mint != NATIVE and other.destination == item.destination)
    arrived = tx.token_deltas.get(item.destination)
    if arrived is None:
        return "the transaction's token balances do not show what arrived at the treasury"
    if arrived != sent:
        return f"{arrived} base units arrived for {sent} sent (a transfer fee of the mint?): not credited"
    return ""


def _token_for_mint(mint: str):
    from ledger.models import Token

    for symbol, known in solana_mints().items():
        if known == mint:
            return Token.objects.filter(symbol=symbol, chain=ChainKind.SOLANA).first()
    return None


def _match(transfer: ChainTransfer) -> str:
    """Why this finalized transfer cannot pay the request its reference names, by the rules
    of Solana ("" when it can; the intent's own checks follow under its lock, in
    `intent_credit`)."""
    if transfer.intent_id is None:
        return "no reference of an open deposit request"
    if transfer.to_address != treasury():
        return f"sent to {transfer.to_address}, not to the treasury"
    return transfer.reason  # a defect found on reading (decimals, what arrived), or ""


@transaction.atomic(durable=True)
def solana_transfer_settle(*, transfer_id: int) -> str:
    """Credit a finalized transfer to its intent's factory, once, or mark it unmatched
    (chain/services/credit.py). The caller has seen its signature `finalized`."""
    transfer = chain_transfer_lock(transfer_id, related=("token",))
    if transfer.status != ChainTransfer.Status.PENDING or transfer.chain != ChainKind.SOLANA:
        return transfer.status
    return intent_credit(transfer=transfer, intent_id=transfer.intent_id, reason=_match(transfer))


def _settle_or_drop_pending(source, report: SolanaWatchReport) -> None:
    """Pending transfers left from earlier runs: settle the finalized ones (their address's
    cursor may have moved on through another address), orphan those the cluster forgot."""
    pending = list(
        ChainTransfer.objects.filter(chain=ChainKind.SOLANA, status=ChainTransfer.Status.PENDING).values_list(
            "pk", "tx_hash", "seen_at"
        )
    )
    if not pending:
        return
    statuses = source.statuses(sorted({sig for _, sig, _ in pending}))
    drop_before = timezone.now() - timedelta(seconds=settings.FORGE_SOLANA_DROP_AFTER_SECONDS)
    for pk, signature, seen_at in pending:
        status = statuses.get(signature)
        if status == FINALIZED:
            _count(report, solana_transfer_settle(transfer_id=pk))
        elif status is None and seen_at < drop_before:
            report.orphaned += ChainTransfer.objects.filter(pk=pk, status=ChainTransfer.Status.PENDING).update(
                status=ChainTransfer.Status.ORPHANED, reason="the cluster no longer knows this signature"
            )
        else:
            report.pending += 1
