"""Wallets a user proved they control, and the one-use nonces that prove it.

A wallet is linked by signing a Sign-In with Ethereum / Solana message that carries a server
nonce (chain/signin.py, chain/services.py). It can receive withdrawals from `usable_from`
(verified_at + FORGE_WALLET_COOLDOWN_HOURS), so a stolen password alone cannot send money to
a fresh address at once. What PostgreSQL holds: one active link per (chain, address) across all
users; a nonce value exists once and expires after it is issued.
"""

from django.conf import settings
from django.db import models


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
