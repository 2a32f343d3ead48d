"""Wallets a user proved they control, and the one-use nonces that prove it.

A wallet is linked by signing a Sign-In with Ethereum / Solana message that carries a server
nonce (chain/signin.py, chain/services.py). It can receive withdrawals from `usable_from`
(verified_at + FORGE_WALLET_COOLDOWN_HOURS), so a stolen password alone cannot send money to
a fresh address at once. What PostgreSQL holds: one active link per (chain, address) across all
users; a nonce value exists once and expires after it is issued.
"""

from django.conf import settings
from django.db import models

from ledger.fields import AmountField


class ChainKind(models.TextChoices):
    EVM = "evm", "Ethereum (EVM)"
    SOLANA = "solana", "Solana"


class WalletNonce(models.Model):
    """A server nonce for one sign-in message: usable once (`used_at`, set by a conditional
    UPDATE in `wallet_link`), before `expires_at`, by the user it was issued to."""

    value = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    chain = models.CharField(max_length=16, choices=ChainKind.choices)
    domain = models.CharField(max_length=255)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("issued_at")), name="nonce_expires_after_issue"
            ),
            models.CheckConstraint(condition=models.Q(chain__in=["evm", "solana"]), name="nonce_chain_valid"),
        ]

    def __str__(self) -> str:
        return f"nonce {self.value[:8]}… ({self.chain})"


class Wallet(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallets")
    chain = models.CharField(max_length=16, choices=ChainKind.choices)
    # EIP-55 checksum spelling for EVM, base58 public key for Solana (signin.address_normalise).
    address = models.CharField(max_length=64)
    verified_at = models.DateTimeField()
    usable_from = models.DateTimeField()
    unlinked_at = models.DateTimeField(null=True, blank=True)
    # The proof, kept: the exact text signed, its signature, and the nonce it consumed.
    nonce = models.OneToOneField(WalletNonce, on_delete=models.PROTECT, related_name="wallet")
    message = models.TextField()
    signature = models.CharField(max_length=200)

    class Meta:
        ordering = ["-verified_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "address"],
                condition=models.Q(unlinked_at__isnull=True),
                name="wallet_one_active_link_per_address",
            ),
            models.CheckConstraint(condition=models.Q(chain__in=["evm", "solana"]), name="wallet_chain_valid"),
            models.CheckConstraint(
                condition=models.Q(usable_from__gte=models.F("verified_at")), name="wallet_usable_after_verified"
            ),
        ]
        indexes = [models.Index(fields=["user", "chain"], name="wallet_user_chain")]

    def __str__(self) -> str:
        return f"{self.chain} {self.address}"


class ChainAsset(models.Model):
    """How a ledger token exists on the EVM chain the watcher reads: the native coin (no
    contract) or an ERC-20 contract. A token without a row is not accepted on chain."""

    token = models.OneToOneField("ledger.Token", on_delete=models.PROTECT, related_name="+")
    # EIP-55 spelling; "" is the chain's native coin (ether).
    contract_address = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contract_address"], name="chain_asset_one_token_per_contract"),
        ]

    def __str__(self) -> str:
        return f"{self.token} ({self.contract_address or 'native'})"


class EvmCursor(models.Model):
    """Where the watcher resumes: the first block it has not scanned. One row per chain; the
    watcher holds it locked while it scans, so two watchers never interleave."""

    name = models.CharField(max_length=32, unique=True)
    next_block = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} from block {self.next_block}"


class EvmBlock(models.Model):
    """A scanned block's hash, kept for the last FORGE_EVM_REORG_DEPTH blocks: a later run
    compares them with the chain to notice a reorg."""

    number = models.BigIntegerField(unique=True)
    hash = models.CharField(max_length=66)

    def __str__(self) -> str:
        return f"block {self.number} {self.hash[:10]}…"


class DepositIntent(models.Model):
    """A creator's announced on-chain deposit: this amount of this token, from this linked
    wallet, to the treasury, for this factory. The watcher credits a confirmed transfer to the
    intent whose (wallet, token, exact amount) it matches; the database keeps that triple
    unique among open intents, so a transfer never matches two."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for the transfer"
        CREDITED = "credited", "Credited"
        CANCELLED = "cancelled", "Cancelled"

    factory = models.ForeignKey("pools.Factory", on_delete=models.PROTECT, related_name="+")
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey("ledger.Token", on_delete=models.PROTECT, related_name="+")
    # EVM: the linked wallet that pays (part of the reference). Solana: none; `reference` is.
    wallet = models.ForeignKey(Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="deposit_intents")
    # Solana Pay `reference`: a fresh public key (no one holds its secret) that the payer's
    # transfer instruction lists as a read-only account; unique, so it names one intent.
    reference = models.CharField(max_length=64, null=True, blank=True, unique=True)
    amount = AmountField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    deposit = models.OneToOneField("pools.Deposit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="deposit_intent_amount_positive"),
            models.UniqueConstraint(
                fields=["wallet", "token", "amount"],
                condition=models.Q(status="open"),
                name="deposit_intent_one_open_per_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"deposit intent {self.pk}"


class ChainTransfer(models.Model):
    """A transfer to the treasury seen on chain, once per (chain, transaction, index): the
    native value of a transaction has index -1, an ERC-20 Transfer event its position among
    the transaction's logs (stable if a reorg re-includes the transaction in another block).

    pending   seen, waiting for FORGE_EVM_CONFIRMATIONS
    credited  matched an open intent and credited through the deposit service
    unmatched never credited: wrong token, unknown sender, no intent of that exact amount,
              closed factory... (`reason`); listed for staff in the admin
    orphaned  its block left the chain before it was confirmed (a reorg); never credited
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmations"
        CREDITED = "credited", "Credited"
        UNMATCHED = "unmatched", "Unmatched (staff)"
        ORPHANED = "orphaned", "Dropped by a reorg"

    chain = models.CharField(max_length=16, choices=ChainKind.choices)
    # EVM: 0x + 64 hex. Solana: the transaction's base58 signature (up to 88 characters).
    tx_hash = models.CharField(max_length=100)
    # EVM: the log index (-1 native); Solana: the instruction's index in the transaction.
    log_index = models.IntegerField()
    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66)
    contract_address = models.CharField(max_length=64, blank=True)  # "" for the native coin
    token = models.ForeignKey("ledger.Token", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    from_address = models.CharField(max_length=64)
    to_address = models.CharField(max_length=64)
    # Raw uint256 base units: a transfer of an unknown token may exceed what a ledger amount holds.
    amount = models.DecimalField(max_digits=78, decimal_places=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.CharField(max_length=255, blank=True)
    intent = models.ForeignKey(DepositIntent, null=True, blank=True, on_delete=models.PROTECT, related_name="transfers")
    deposit = models.OneToOneField("pools.Deposit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    seen_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-block_number", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "tx_hash", "log_index"], name="chain_transfer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.tx_hash[:10]}…:{self.log_index}"


class SolanaCursor(models.Model):
    """Where the Solana watcher resumes for one address (the treasury, one of its token
    accounts, or an intent's reference): the newest signature it has read and that was
    finalized together with every older one. `getSignaturesForAddress(until=...)` starts there."""

    address = models.CharField(max_length=64, unique=True)
    last_signature = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.address} after {self.last_signature[:10] or 'the beginning'}"


from .payout_models import EvmPayout, PayoutRunLease, SolanaPayout  # noqa: E402,F401  (the payout system's models, their own module)
