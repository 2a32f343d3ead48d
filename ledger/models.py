"""The ledger: tokens, accounts, and append-only double-entry transactions.

This is the bottom layer. It knows nothing of factories, farmers or referrals: an account is
named by an opaque `holder` string chosen by the caller ("pool:12", "user:5", "protocol",
"world") plus a `kind` and a `token`. See docs/ledger.md.

What the database itself guarantees (PostgreSQL; see migrations 0002 and 0004):
- every transaction's entries sum to zero per token (deferred constraint trigger), and an
  entry's token is its account's token (composite foreign key);
- entries and transactions are never updated or deleted (trigger); an account never
  changes kind (trigger);
- protected balances never go negative (CHECK on `Account.balance`);
- one transaction per idempotency key (UNIQUE).
"""

from django.conf import settings
from django.db import models

from core.money import Money

from .fields import AmountField


class Token(models.Model):
    class Chain(models.TextChoices):
        SOLANA = "solana", "Solana"
        EVM = "evm", "Ethereum (EVM)"

    symbol = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=64)
    decimals = models.PositiveSmallIntegerField()
    chain = models.CharField(max_length=16, choices=Chain.choices, default=Chain.SOLANA)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(decimals__lte=18), name="token_decimals_max_18"),
        ]

    def __str__(self) -> str:
        return self.symbol

    def money(self, units: int) -> Money:
        return Money(int(units), self.symbol, self.decimals)


class Account(models.Model):
    class Kind(models.TextChoices):
        POOL_AVAILABLE = "pool_available", "Pool: available"
        POOL_RESERVED = "pool_reserved", "Pool: reserved for claims"
        USER_BALANCE = "user_balance", "User: balance"
        USER_STAKE = "user_stake", "User: staked"
        USER_UNBONDING = "user_unbonding", "User: unstaking (cooldown)"
        USER_PENDING_WITHDRAWAL = "user_pending_withdrawal", "User: pending withdrawal"
        TREASURY = "treasury", "Protocol treasury"
        # The outside world: deposits come from here (its balance is minus all deposits),
        # withdrawals go there (its balance is all withdrawals sent).
        WORLD_DEPOSITS = "world_deposits", "World: deposits in"
        WORLD_WITHDRAWALS = "world_withdrawals", "World: withdrawals out"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    holder = models.CharField(max_length=64)
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="accounts")
    balance = AmountField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "holder", "token"], name="account_unique_kind_holder_token"),
            models.CheckConstraint(
                condition=models.Q(balance__gte=0) | models.Q(kind="world_deposits"),
                name="account_balance_not_negative",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="world_deposits") | models.Q(balance__lte=0),
                name="account_world_deposits_not_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder}/{self.kind}/{self.token.symbol}"


class Transaction(models.Model):
    """A balanced set of entries, posted once per idempotency key. Never edited."""

    idempotency_key = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=32, db_index=True)
    # sha256 of the kind and the sorted legs: a repeat of the key must match it exactly.
    fingerprint = models.CharField(max_length=64)
    memo = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.idempotency_key


class Entry(models.Model):
    """One leg: `amount` (signed base units) added to `account`. Append-only."""

    # No single-column indexes: (transaction, account) and (account, transaction) below cover
    # every lookup, and each index is one more write per leg on the hot settlement path.
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries", db_index=False)
    # The database holds (account, token) with ONE composite foreign key to the account's
    # (id, token_id) (migration 0004): the account exists and the token is its token (which
    # exists). Separate keys for each would only double the checks on every leg written.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False, db_constraint=False
    )
    # Denormalised from the account so the balance trigger can sum per token cheaply.
    token = models.ForeignKey(Token, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False)
    amount = AmountField()

    class Meta:
        verbose_name_plural = "entries"
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="entry_amount_not_zero"),
            models.UniqueConstraint(fields=["transaction", "account"], name="entry_one_leg_per_account"),
        ]
        indexes = [models.Index(fields=["account", "transaction"])]

    def __str__(self) -> str:
        return f"{self.account}: {self.amount}"
