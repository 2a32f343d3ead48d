"""Account links the chain app sees (accounts/links.py has the signals; docs/security.md,
"Account links"): a wallet that passed between accounts, money that flowed from one account to
another through a wallet, and factories funded from another account's wallet."""

from __future__ import annotations

from accounts.links import account_link_record
from accounts.models import AccountLink, Withdrawal

from ..models import ChainTransfer, DepositIntent, Wallet


def wallet_links_record(*, wallet: Wallet) -> int:
    """A wallet was just linked: link its user to every other user who linked the same address
    before ("wallet"), and to every creator whose on-chain deposits came from it ("money":
    whoever holds the wallet now was paying for the other's factory). Returns links added."""
    added = 0
    others = set(
        Wallet.objects.filter(chain=wallet.chain, address=wallet.address)
        .exclude(user_id=wallet.user_id)
        .values_list("user_id", flat=True)
    ) | set(
        Withdrawal.objects.filter(address=wallet.address)
        .exclude(user_id=wallet.user_id)
        .values_list("user_id", flat=True)
    )
    for other in sorted(others):
        added += account_link_record(
            user_ids=[wallet.user_id, other],
            signal=AccountLink.Signal.WALLET,
            evidence=f"the same wallet {wallet.address} linked by both",
        )
    funded = set(
        DepositIntent.objects.filter(
            transfers__from_address=wallet.address, transfers__status=ChainTransfer.Status.CREDITED
        )
        .exclude(creator_id=wallet.user_id)
        .values_list("creator_id", flat=True)
    )
    for creator_id in sorted(funded):
        added += account_link_record(
            user_ids=[wallet.user_id, creator_id],
            signal=AccountLink.Signal.MONEY,
            evidence=f"deposits of one came from wallet {wallet.address}, now the other's",
        )
    return added


def deposit_links_record(*, transfer: ChainTransfer, intent: DepositIntent) -> int:
    """A factory deposit was credited from `transfer.from_address`: link the creator to every
    other user who linked that wallet or had withdrawals sent to it ("self_funded": their
    money, or money paid out to them, funds this factory). Returns links added."""
    sender = transfer.from_address
    others = set(
        Wallet.objects.filter(address=sender).exclude(user_id=intent.creator_id).values_list("user_id", flat=True)
    )
    others |= set(
        Withdrawal.objects.filter(address=sender).exclude(user_id=intent.creator_id).values_list("user_id", flat=True)
    )
    added = 0
    for other in sorted(others):
        added += account_link_record(
            user_ids=[intent.creator_id, other],
            signal=AccountLink.Signal.SELF_FUNDED,
            evidence=f"factory {intent.factory_id} funded from wallet {sender}, also the other's",
        )
    return added
