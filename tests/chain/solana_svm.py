"""A Solana runtime in process (solders' LiteSVM, with the SPL token and associated token
account programs it ships) behind the watcher's source adapter (chain/services/solana.py).

The mints live under one token program per cluster (`TokenBuild`): Token-2022 by default, or
the classic Token program (TokenkegQ..., the one real USDC uses) in either build the pinned
solders wheel carries: p-token, which LiteSVM runs at the classic id with its default (mainnet)
feature set, or the original SPL Token 3.5.0 ELF, which LiteSVM loads there without that
feature set and which `SvmCluster` then deploys at the classic id of a full runtime. Nothing is
downloaded: both ELFs are inside the solders wheel of requirements.txt.

LiteSVM executes real transactions (system transfers, mints, token accounts, transferChecked
with a Solana Pay reference) but has no RPC and no commitment levels. This class keeps the
history the RPC would (every transaction sent, its slot, whether it failed) and plays the
cluster's commitment: a transaction is `confirmed` when sent and `finalized` once the test
calls `finalize()`; `forget(signature)` plays a fork that died. The watcher reads the
transactions' own messages: account keys, compiled instructions and the token accounts'
state parsed from the runtime (mint, owner, and the mint's decimals, as the RPC's token
balances carry them).
"""

from __future__ import annotations

import hashlib
import struct
from enum import StrEnum
from functools import cache

from solders import system_program
from solders.instruction import AccountMeta
from solders.instruction import Instruction as SvmInstruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount
from solders.transaction import Transaction

from chain.services.solana import (
    ATA_PROGRAM,
    TOKEN_2022_PROGRAM,
    Instruction,
    SignatureInfo,
    SolanaTx,
    associated_token_address,
)

MINT_SIZE = 82
# A Token-2022 mint with the TransferFeeConfig extension: the mint padded to an account's 165
# bytes, the account-type byte, then the extension (type u16, length u16, 108 bytes).
MINT_WITH_TRANSFER_FEE_SIZE = 165 + 1 + 4 + 108
ACCOUNT_TYPE_ACCOUNT = 2  # Token-2022's account-type byte (1 is a mint)
SOL = 10**9
# The classic program's id as LiteSVM's own table has it, spelled here rather than imported from
# chain/services/solana.py, so that the tests catch a wrong constant there.
CLASSIC_TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
RUNTIME_TOKEN_PROGRAMS = (CLASSIC_TOKEN_PROGRAM, TOKEN_2022_PROGRAM)  # a node parses accounts of both


class TokenBuild(StrEnum):
    """Which SPL token program executes the cluster's mints, and at which id."""

    TOKEN_2022 = "token-2022"
    P_TOKEN = "p-token"  # the classic program's id, LiteSVM's default build there
    SPL_TOKEN_3_5 = "spl-token-3.5.0"  # the classic program's id, the original build

    @property
    def program(self) -> str:
        return TOKEN_2022_PROGRAM if self is TokenBuild.TOKEN_2022 else CLASSIC_TOKEN_PROGRAM


# sha256 of the SPL Token 3.5.0 ELF inside solders 0.29 (solana-program-library's
# token/program): a solders upgrade that changes it fails here instead of testing something else.
SPL_TOKEN_3_5_SHA256 = "7b44674b9704fa7640fbebfac68389f338b500b8c2bc29175c27ed66838b5a3c"


@cache
def spl_token_3_5_elf() -> bytes:
    """The original SPL Token ELF: what a minimal LiteSVM (no feature set, so no p-token
    replacement) holds at the classic id, under BPF loader 2, whose account data is the ELF."""
    account = LiteSVM.default().with_default_programs().get_account(Pubkey.from_string(CLASSIC_TOKEN_PROGRAM))
    elf = bytes(account.data)
    if hashlib.sha256(elf).hexdigest() != SPL_TOKEN_3_5_SHA256:
        raise RuntimeError("solders no longer ships SPL Token 3.5.0 at the classic id: update SPL_TOKEN_3_5_SHA256")
    return elf


class SvmCluster:
    def __init__(self, token_build: TokenBuild = TokenBuild.TOKEN_2022):
        self.svm = LiteSVM()
        self.token_build = token_build
        self.token_program = token_build.program
        self.token = Pubkey.from_string(self.token_program)
        if token_build is TokenBuild.SPL_TOKEN_3_5:
            self.svm.add_program(self.token, spl_token_3_5_elf())
        self.payer = Keypair()
        self.svm.airdrop(self.payer.pubkey(), 1_000 * SOL)
        self.history: list[tuple[str, int, bool, Transaction]] = []  # oldest first
        self.finalized_slot = -1
        self.forgotten: set[str] = set()
        self.calls = {"signatures": 0, "transaction": 0, "statuses": 0}
        self.valid_until: dict[str, int] = {}  # blockhash -> last valid block height
        self.refused: list[str] = []  # why sent transactions did not land
        # signature -> {token account: post minus pre balance}, as the meta's token balances say
        self.token_deltas: dict[str, dict[str, int]] = {}

    # ---- building on the runtime ----------------------------------------------------------

    def wallet(self, sol: int = 10) -> Keypair:
        key = Keypair()
        self.svm.airdrop(key.pubkey(), sol * SOL)
        return key

    def send(self, instructions, signers) -> tuple[str, bool]:
        """Execute one transaction (the payer pays the fee) and record it like the cluster
        would; the slot then advances, so each transaction has its own slot."""
        signers = [self.payer, *[s for s in signers if s.pubkey() != self.payer.pubkey()]]
        tx = Transaction(signers, Message(instructions, self.payer.pubkey()), self.svm.latest_blockhash())
        before = self._token_amounts(tx)
        result = self.svm.send_transaction(tx)
        failed = hasattr(result, "err")
        slot = self.svm.get_clock().slot
        signature = str(tx.signatures[0])
        self._record_deltas(signature, tx, before)
        self.history.append((signature, slot, failed, tx))
        self.svm.warp_to_slot(slot + 1)
        self.svm.expire_blockhash()
        return signature, failed

    def create_mint(self, decimals: int, *, transfer_fee_bps: int | None = None, maximum_fee: int = 2**64 - 1) -> str:
        """A Token-2022 mint; with `transfer_fee_bps`, one with the TransferFee extension, which
        withholds that fee (basis points, at most `maximum_fee`) from every transfer in the
        recipient's token account."""
        mint = Keypair()
        space = MINT_SIZE if transfer_fee_bps is None else MINT_WITH_TRANSFER_FEE_SIZE
        rent = self.svm.minimum_balance_for_rent_exemption(space)
        extension = []
        if transfer_fee_bps is not None:
            # TransferFeeExtension (26) / InitializeTransferFeeConfig (0): config and withdraw
            # authorities (optional keys: a tag byte, then the key), basis points, maximum fee.
            authority = b"\x01" + bytes(self.payer.pubkey())
            extension = [
                SvmInstruction(
                    self.token,
                    bytes([26, 0]) + authority + authority + struct.pack("<HQ", transfer_fee_bps, maximum_fee),
                    [AccountMeta(mint.pubkey(), False, True)],
                )
            ]
        self.send(
            [
                system_program.create_account(
                    system_program.CreateAccountParams(
                        from_pubkey=self.payer.pubkey(),
                        to_pubkey=mint.pubkey(),
                        lamports=rent,
                        space=space,
                        owner=self.token,
                    )
                ),
                *extension,  # extensions are initialized before the mint itself
                # InitializeMint2: decimals, mint authority, no freeze authority
                SvmInstruction(
                    self.token,
                    bytes([20, decimals]) + bytes(self.payer.pubkey()) + b"\0",
                    [AccountMeta(mint.pubkey(), False, True)],
                ),
            ],
            [mint],
        )
        return str(mint.pubkey())

    def token_account(self, owner: str, mint: str) -> str:
        """The owner's associated token account for `mint` (created if missing)."""
        address = associated_token_address(owner, mint, self.token_program)
        if self.svm.get_account(Pubkey.from_string(address)) is None:
            self.send(
                [
                    SvmInstruction(
                        Pubkey.from_string(ATA_PROGRAM),
                        b"\x01",  # CreateIdempotent
                        [
                            AccountMeta(self.payer.pubkey(), True, True),
                            AccountMeta(Pubkey.from_string(address), False, True),
                            AccountMeta(Pubkey.from_string(owner), False, False),
                            AccountMeta(Pubkey.from_string(mint), False, False),
                            AccountMeta(system_program.ID, False, False),
                            AccountMeta(self.token, False, False),
                        ],
                    )
                ],
                [],
            )
        return address

    def mint_to(self, mint: str, owner: str, units: int) -> None:
        account = self.token_account(owner, mint)
        self.send(
            [
                SvmInstruction(
                    self.token,
                    bytes([7]) + struct.pack("<Q", units),
                    [
                        AccountMeta(Pubkey.from_string(mint), False, True),
                        AccountMeta(Pubkey.from_string(account), False, True),
                        AccountMeta(self.payer.pubkey(), True, False),
                    ],
                )
            ],
            [],
        )

    def pay_sol(self, sender: Keypair, to: str, lamports: int, *, reference: str | None = None) -> tuple[str, bool]:
        ix = system_program.transfer(
            system_program.TransferParams(
                from_pubkey=sender.pubkey(), to_pubkey=Pubkey.from_string(to), lamports=lamports
            )
        )
        if reference:  # Solana Pay: the reference as a read-only, non-signer account
            ix = SvmInstruction(
                ix.program_id, ix.data, [*ix.accounts, AccountMeta(Pubkey.from_string(reference), False, False)]
            )
        return self.send([ix], [sender])

    def pay_token(
        self,
        sender: Keypair,
        mint: str,
        to_owner: str,
        units: int,
        decimals: int,
        *,
        reference: str | None = None,
        checked: bool = True,
    ) -> tuple[str, bool]:
        """TransferChecked (what Solana Pay asks of wallets), or with `checked=False` the plain
        Transfer (no mint, no decimals) some wallets still send."""
        source = Pubkey.from_string(self.token_account(str(sender.pubkey()), mint))
        destination = Pubkey.from_string(self.token_account(to_owner, mint))
        if checked:
            data = bytes([12]) + struct.pack("<Q", units) + bytes([decimals])
            accounts = [AccountMeta(source, False, True), AccountMeta(Pubkey.from_string(mint), False, False)]
        else:
            data = bytes([3]) + struct.pack("<Q", units)
            accounts = [AccountMeta(source, False, True)]
        accounts += [AccountMeta(destination, False, True), AccountMeta(sender.pubkey(), True, False)]
        if reference:
            accounts.append(AccountMeta(Pubkey.from_string(reference), False, False))
        return self.send([SvmInstruction(self.token, data, accounts)], [sender])

    def token_program_elf(self) -> bytes:
        """The ELF that executes at the cluster's token program id. Under the upgradeable
        loader the program account names its program data account, whose data is a 45-byte
        header and the ELF; under BPF loader 2 the account's data is the ELF."""
        account = self.svm.get_account(self.token)
        data = bytes(account.data)
        if str(account.owner) == "BPFLoaderUpgradeab1e11111111111111111111111":
            data = bytes(self.svm.get_account(Pubkey(data[4:36])).data)[45:]
        return data

    def token_balance(self, owner: str, mint: str) -> int:
        account = self.svm.get_account(Pubkey.from_string(self.token_account(owner, mint)))
        return TokenAccount.from_bytes(bytes(account.data)[:165]).amount

    def _token_state(self, key: Pubkey) -> TokenAccount | None:
        """The token account at `key`, or None (no account, or not a token account: a mint
        with extensions is longer than 165 bytes too, its account-type byte says which)."""
        account = self.svm.get_account(key)
        if account is None or str(account.owner) not in RUNTIME_TOKEN_PROGRAMS:
            return None
        data = bytes(account.data)
        if len(data) < 165 or (len(data) > 165 and data[165] != ACCOUNT_TYPE_ACCOUNT):
            return None
        return TokenAccount.from_bytes(data[:165])

    def _token_amounts(self, tx: Transaction) -> dict[str, int]:
        states = {str(key): self._token_state(key) for key in tx.message.account_keys}
        return {key: state.amount for key, state in states.items() if state is not None}

    def _record_deltas(self, signature: str, tx: Transaction, before: dict[str, int]) -> None:
        """What the RPC's pre/postTokenBalances would say: each token account's change (an
        account created by the transaction held nothing before)."""
        after = self._token_amounts(tx)
        self.token_deltas[signature] = {
            key: after.get(key, 0) - before.get(key, 0) for key in after.keys() | before.keys()
        }

    # ---- commitment ------------------------------------------------------------------------

    def finalize(self) -> None:
        """Every transaction sent so far is finalized."""
        self.finalized_slot = self.history[-1][1] if self.history else -1

    def forget(self, signature: str) -> None:
        """The fork that held this transaction died before it was finalized."""
        self.forgotten.add(signature)

    def _status(self, slot: int) -> str:
        return "finalized" if slot <= self.finalized_slot else "confirmed"

    # ---- the payout source (what PayoutRpc answers from JSON-RPC) ---------------------------
    # Block height is played by the slot; the finalized height is the slot `finalize()` or
    # `advance()` made final. A blockhash is valid for BLOCKHASH_VALID_FOR blocks; LiteSVM itself
    # accepts only its latest blockhash, so `advance()` expires it, as time would.

    BLOCKHASH_VALID_FOR = 150

    def block_height(self) -> int:
        return max(self.finalized_slot, 0)

    def latest_blockhash(self) -> tuple[str, int]:
        blockhash = str(self.svm.latest_blockhash())
        height = self.svm.get_clock().slot
        return blockhash, self.valid_until.setdefault(blockhash, height + self.BLOCKHASH_VALID_FOR)

    def advance(self, blocks: int) -> None:
        """`blocks` blocks pass and are finalized: the latest blockhash is replaced."""
        slot = self.svm.get_clock().slot + blocks
        self.svm.expire_blockhash()
        self.finalized_slot = slot
        self.svm.warp_to_slot(slot + 1)  # what is sent next lands after the finalized block

    def send_transaction(self, raw: bytes) -> str:
        """sendTransaction without preflight: a transaction that executes and fails lands as
        failed; one with an unknown (expired) blockhash never lands; one already executed is
        not executed again."""
        tx = Transaction.from_bytes(raw)
        signature = str(tx.signatures[0])
        if any(sig == signature for sig, *_ in self.history):
            return signature
        before = self._token_amounts(tx)
        result = self.svm.send_transaction(tx)
        error = str(result.err()) if hasattr(result, "err") else ""
        if "BlockhashNotFound" in error or "AlreadyProcessed" in error:
            self.refused.append(error)
            return signature
        self._record_deltas(signature, tx, before)
        slot = self.svm.get_clock().slot
        self.history.append((signature, slot, bool(error), tx))
        self.svm.warp_to_slot(slot + 1)
        return signature

    def mint_info(self, mint: str) -> tuple[str, int] | None:
        account = self.svm.get_account(Pubkey.from_string(mint))
        if account is None or str(account.owner) not in RUNTIME_TOKEN_PROGRAMS or len(account.data) < MINT_SIZE:
            return None
        return str(account.owner), bytes(account.data)[44]

    def balance(self, owner: str, mint: str, token_program: str = "") -> int:
        if not mint:
            return self.svm.get_balance(Pubkey.from_string(owner)) or 0
        address = associated_token_address(owner, mint, token_program or self.token_program)
        account = self.svm.get_account(Pubkey.from_string(address))
        return 0 if account is None else TokenAccount.from_bytes(bytes(account.data)[:165]).amount

    # ---- the source adapter (what RpcSource answers from JSON-RPC) -------------------------

    def signatures(self, address: str, *, until: str | None, before: str | None, limit: int) -> list[SignatureInfo]:
        self.calls["signatures"] += 1
        key = Pubkey.from_string(address)
        rows = []
        started = before is None
        for signature, slot, failed, tx in reversed(self.history):
            if signature == until:
                break
            if not started:
                started = signature == before
                continue
            if signature in self.forgotten or key not in tx.message.account_keys:
                continue
            rows.append(SignatureInfo(signature, slot, failed, self._status(slot)))
            if len(rows) == limit:
                break
        return rows

    def transaction(self, signature: str) -> SolanaTx | None:
        self.calls["transaction"] += 1
        for sig, slot, failed, tx in self.history:
            if sig == signature and sig not in self.forgotten:
                return self._parsed(sig, slot, failed, tx)
        return None

    def statuses(self, signatures: list[str]) -> dict[str, str | None]:
        self.calls["statuses"] += 1
        slots = {sig: slot for sig, slot, _, _ in self.history if sig not in self.forgotten}
        return {sig: (self._status(slots[sig]) if sig in slots else None) for sig in signatures}

    def _parsed(self, signature: str, slot: int, failed: bool, tx: Transaction) -> SolanaTx:
        keys = [str(k) for k in tx.message.account_keys]
        token_accounts, token_decimals = {}, {}
        for key in tx.message.account_keys:
            state = self._token_state(key)
            if state is not None:
                token_accounts[str(key)] = (str(state.mint), str(state.owner))
                # uiTokenAmount.decimals: the mint's, as the node reads it from the mint account
                token_decimals[str(key)] = self.mint_info(str(state.mint))[1]
        instructions = tuple(
            Instruction(
                program=keys[ix.program_id_index],
                accounts=tuple(keys[i] for i in bytes(ix.accounts)),
                data=bytes(ix.data),
            )
            for ix in tx.message.instructions
        )
        deltas = self.token_deltas.get(signature, {})
        return SolanaTx(signature, slot, failed, instructions, token_accounts, deltas, token_decimals)
