"""The payout system's record of every transaction the hot wallet signed (chain/services/payouts.py).

A row is written, with the exact signed bytes and their nonce, in the same database
transaction that takes the withdrawal (`pending` -> `sending`), and only then broadcast. So
whatever process dies wherever, every transaction that can reach the chain is here, and what
PostgreSQL holds makes a second transfer impossible:

- one row per (hot wallet, nonce): the signer never signs two transactions with one nonce;
- at most one row per withdrawal that is not `dead` or `failed`: a new transaction for a
  withdrawal is signed only once the old one is marked `dead`, which the payout run does only
  when the old one is provably never going to be mined (its nonce used by another transaction
  at the confirmation depth, and no receipt for its hash).

signed     stored, maybe broadcast (a process may have died around the broadcast): in doubt,
           re-broadcast as is
broadcast  sent to the node at least once; re-broadcast as is until mined or dead
mined      in a block, waiting for FORGE_EVM_CONFIRMATIONS (back to broadcast if a reorg drops it)
confirmed  succeeded, deep enough: the withdrawal is recorded sent through the ledger
failed     reverted, deep enough: the amount went back to the user's balance through the ledger
dead       its nonce was used by another transaction: never mined; the withdrawal gets a new one
"""

from django.db import models
from django.db.models import Q

from ledger.fields import AmountField


class EvmPayout(models.Model):
    class Status(models.TextChoices):
        SIGNED = "signed", "Signed (in doubt: re-broadcast)"
        BROADCAST = "broadcast", "Broadcast"
        MINED = "mined", "Mined, waiting for confirmations"
        CONFIRMED = "confirmed", "Confirmed"
        FAILED = "failed", "Failed on chain (amount returned)"
        DEAD = "dead", "Dead (nonce used by another transaction)"

    LIVE = (Status.SIGNED, Status.BROADCAST, Status.MINED)

    withdrawal = models.ForeignKey("accounts.Withdrawal", on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey("ledger.Token", on_delete=models.PROTECT, related_name="+")
    contract_address = models.CharField(max_length=64, blank=True)  # "" for the native coin
    from_address = models.CharField(max_length=64)
    to_address = models.CharField(max_length=64)
    amount = AmountField()
    nonce = models.BigIntegerField()
    gas_limit = models.BigIntegerField()
    gas_price = models.DecimalField(max_digits=78, decimal_places=0)  # wei
    raw_tx = models.TextField()  # 0x hex of the exact signed bytes: what is (re-)broadcast
    tx_hash = models.CharField(max_length=66, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SIGNED, db_index=True)
    block_number = models.BigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=66, blank=True)
    broadcasts = models.IntegerField(default=0)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    broadcast_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-nonce", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["from_address", "nonce"], name="evm_payout_one_per_nonce"),
            models.UniqueConstraint(
                fields=["withdrawal"],
                condition=Q(status__in=["signed", "broadcast", "mined", "confirmed"]),
                name="evm_payout_one_live_per_withdrawal",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="evm_payout_amount_positive"),
            models.CheckConstraint(condition=Q(nonce__gte=0), name="evm_payout_nonce_not_negative"),
        ]

    def __str__(self) -> str:
        return f"payout {self.pk} nonce {self.nonce} {self.tx_hash[:10]}…"


class SolanaPayout(models.Model):
    """Every Solana transaction the hot wallet signed for a withdrawal (chain/services/
    solana_payouts.py): the exact signed bytes, their signature, and the recent blockhash with
    its last valid block height, committed with the withdrawal's `pending` -> `sending` before
    anything is sent.

    signed     stored, maybe sent (a process may have died around the send): in doubt, re-sent as is
    broadcast  sent at least once; re-sent as is until finalized or dead
    confirmed  finalized and succeeded: the withdrawal is recorded sent through the ledger
    failed     finalized and failed: the amount went back to the user's balance through the ledger
    dead       its blockhash expired (the finalized block height is past its last valid block
               height) and its signature is absent: it can never land; the withdrawal gets a new one
    """

    class Status(models.TextChoices):
        SIGNED = "signed", "Signed (in doubt: re-sent)"
        BROADCAST = "broadcast", "Sent"
        CONFIRMED = "confirmed", "Finalized"
        FAILED = "failed", "Failed on chain (amount returned)"
        DEAD = "dead", "Dead (blockhash expired, never landed)"

    LIVE = (Status.SIGNED, Status.BROADCAST)

    withdrawal = models.ForeignKey("accounts.Withdrawal", on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey("ledger.Token", on_delete=models.PROTECT, related_name="+")
    mint = models.CharField(max_length=64, blank=True)  # "" for SOL
    from_address = models.CharField(max_length=64)
    to_address = models.CharField(max_length=64)
    amount = AmountField()
    # A fresh public key (nobody holds its secret) listed read-only in the transfer, as Solana
    # Pay's `reference`: two equal withdrawals under one blockhash are still two transactions,
    # and `getSignaturesForAddress(reference)` finds this payout's transactions.
    reference = models.CharField(max_length=64, unique=True)
    recent_blockhash = models.CharField(max_length=64)
    last_valid_block_height = models.BigIntegerField()
    raw_tx = models.TextField()  # base64 of the exact signed bytes: what is (re-)sent
    signature = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SIGNED, db_index=True)
    sends = models.IntegerField(default=0)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    broadcast_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["withdrawal"],
                condition=Q(status__in=["signed", "broadcast", "confirmed"]),
                name="solana_payout_one_live_per_withdrawal",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="solana_payout_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"solana payout {self.pk} {self.signature[:10]}…"


class PayoutRunLease(models.Model):
    """Who runs the payouts of one chain now (chain.locks.payout_run_lease): one row per run
    kind (`evm`, `solana`), held by the run whose `holder` token it carries until `expires_at`
    (the database's clock). A plain row, taken and renewed by compare-and-swap updates each in
    its own short transaction, so it holds the same behind a transaction-mode pooler as on a
    direct connection; a run killed while holding it blocks the next one only until it
    expires (FORGE_PAYOUT_RUN_LEASE_SECONDS)."""

    name = models.CharField(max_length=32, unique=True)
    holder = models.CharField(max_length=128, blank=True)  # "" once released
    acquired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} payout run lease ({self.holder or 'free'} until {self.expires_at:%H:%M:%S})"
