"""Wallets in the admin, read-only: a link is made only by the owner's signature (the proof is
kept on the row), so staff may look but not add or edit. Nonces are not listed."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import (
    ChainAsset,
    ChainTransfer,
    DepositIntent,
    EvmCursor,
    EvmPayout,
    PayoutRunLease,
    SolanaCursor,
    SolanaPayout,
    Wallet,
)


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("address", "chain", "user", "verified_at", "usable_from", "unlinked_at")
    list_filter = ("chain",)
    search_fields = ("address", "user__username")
    readonly_fields = [field.name for field in Wallet._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChainTransfer)
class ChainTransferAdmin(ReadOnlyAdmin):
    """Every transfer to the treasury the watcher saw. `unmatched` ones were never credited
    (wrong token, unknown sender, no intent of that exact amount, closed factory): staff decide
    what to do (refund on chain, or ask the creator to announce the deposit and credit it by
    hand through the usual deposit confirmation). Filter on status."""

    list_display = ("tx_hash", "log_index", "block_number", "status", "token", "amount", "from_address", "reason")
    list_filter = ("status", "chain", "token")
    search_fields = ("tx_hash", "from_address", "contract_address")
    readonly_fields = [field.name for field in ChainTransfer._meta.fields]


@admin.register(DepositIntent)
class DepositIntentAdmin(ReadOnlyAdmin):
    list_display = ("id", "factory", "creator", "token", "amount", "wallet", "reference", "status", "created_at")
    list_filter = ("status", "token")
    readonly_fields = [field.name for field in DepositIntent._meta.fields]


@admin.register(ChainAsset)
class ChainAssetAdmin(admin.ModelAdmin):
    """Which tokens the watcher accepts on EVM: ETH (native) and the ERC-20 contracts added
    here. Removing a row stops accepting the token; transfers already seen stay."""

    list_display = ("token", "contract_address")


@admin.register(EvmCursor)
class EvmCursorAdmin(ReadOnlyAdmin):
    list_display = ("name", "next_block", "updated_at")


@admin.register(EvmPayout)
class EvmPayoutAdmin(ReadOnlyAdmin):
    """Every transaction the hot wallet signed (chain/services/payouts.py): written only by the
    payout run. `signed`/`broadcast` are in doubt (re-broadcast as is), `dead` ones were
    replaced because their nonce was used by another transaction."""

    list_display = ("id", "withdrawal", "token", "amount", "to_address", "nonce", "status", "tx_hash", "created_at")
    list_filter = ("status", "token")
    search_fields = ("tx_hash", "to_address", "withdrawal__id")
    readonly_fields = [field.name for field in EvmPayout._meta.fields]


@admin.register(SolanaPayout)
class SolanaPayoutAdmin(ReadOnlyAdmin):
    """Every Solana transaction the hot wallet signed (chain/services/solana_payouts.py): written
    only by the payout run. `signed`/`broadcast` are in doubt (re-sent as is), `dead` ones were
    replaced because their blockhash expired with the signature absent."""

    list_display = (
        "id",
        "withdrawal",
        "token",
        "amount",
        "to_address",
        "last_valid_block_height",
        "status",
        "signature",
        "created_at",
    )
    list_filter = ("status", "token")
    search_fields = ("signature", "reference", "to_address", "withdrawal__id")
    readonly_fields = [field.name for field in SolanaPayout._meta.fields]


@admin.register(SolanaCursor)
class SolanaCursorAdmin(ReadOnlyAdmin):
    """How far the Solana watcher read each address (the treasury, its token accounts, each open
    request's reference): the newest signature finalized with every older one."""

    list_display = ("address", "last_signature", "updated_at")
    search_fields = ("address",)


@admin.register(PayoutRunLease)
class PayoutRunLeaseAdmin(ReadOnlyAdmin):
    """Which payout run holds each chain's lease, and until when (docs/chain.md, "One run at a
    time"). Read-only: a lease left by a killed run expires by itself."""

    list_display = ("name", "holder", "acquired_at", "expires_at")
