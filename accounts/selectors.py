"""Reads about accounts: a user's balances per token, their withdrawals."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import QuerySet

from ledger.models import Account, Token

from .models import Withdrawal

BALANCE_KINDS = {
    Account.Kind.USER_BALANCE: "available",
    Account.Kind.USER_STAKE: "staked",
    Account.Kind.USER_UNBONDING: "unstaking",
    Account.Kind.USER_PENDING_WITHDRAWAL: "pending_withdrawal",
}


def user_balances(user) -> list[dict]:
    """[{token: Token, available, staked, unstaking, pending_withdrawal}] in base units, one
    row per enabled token (zeros included), in one query."""
    rows: dict[int, dict] = defaultdict(lambda: dict.fromkeys(BALANCE_KINDS.values(), 0))
    for token_id, kind, balance in Account.objects.filter(holder=f"user:{user.pk}", kind__in=BALANCE_KINDS).values_list(
        "token_id", "kind", "balance"
    ):
        rows[token_id][BALANCE_KINDS[kind]] = int(balance)
    return [{"token": token, **rows[token.pk]} for token in Token.objects.filter(enabled=True)]


def users_sharing_a_wallet_with(user_id: int, *, address: str | None = None) -> set[int]:
    """Other users who asked for a withdrawal to an address this user also used (or to
    `address`): one person's accounts, most likely (docs/reputation.md, docs/referrals.md)."""
    addresses = [address] if address else Withdrawal.objects.filter(user_id=user_id).values("address")
    return set(
        Withdrawal.objects.filter(address__in=addresses).exclude(user_id=user_id).values_list("user_id", flat=True)
    )


def withdrawals_of(user) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(user=user).select_related("token").order_by("-created_at", "-id")


# Not yet sent or rejected: the amount sits in the user's pending-withdrawal account.
OPEN_WITHDRAWAL_STATUSES = (Withdrawal.Status.APPROVAL, Withdrawal.Status.PENDING, Withdrawal.Status.SENDING)


def pending_withdrawals_exist(user) -> bool:
    return Withdrawal.objects.filter(user=user, status__in=OPEN_WITHDRAWAL_STATUSES).exists()


def withdrawal_addresses_by_user(user_ids) -> dict[int, set[str]]:
    """{user id: every address the user asked for a withdrawal to} for these users."""
    result: dict[int, set[str]] = defaultdict(set)
    for user_id, address in Withdrawal.objects.filter(user_id__in=list(user_ids)).values_list("user_id", "address"):
        result[user_id].add(address)
    return dict(result)


def withdrawals_total_since(*, user, token, since) -> int:
    """What `user` asked to withdraw in `token` since `since`, in base units (rejected ones
    not counted: their amount came back)."""
    from django.db.models import Sum

    total = (
        Withdrawal.objects.filter(user=user, token=token, created_at__gte=since)
        .exclude(status=Withdrawal.Status.REJECTED)
        .aggregate(total=Sum("amount"))["total"]
    )
    return int(total or 0)


def withdrawal_limits(token) -> dict:
    """The approval limits of `token` in base units: {"above": int | None, "daily": int | None}
    (settings FORGE_WITHDRAWAL_APPROVAL_ABOVE / FORGE_WITHDRAWAL_DAILY_LIMIT, by symbol)."""
    from django.conf import settings

    from core.money import parse_amount

    def limit(table: dict) -> int | None:
        text = table.get(token.symbol)
        return None if text in (None, "") else parse_amount(str(text), decimals=token.decimals)

    return {
        "above": limit(settings.FORGE_WITHDRAWAL_APPROVAL_ABOVE),
        "daily": limit(settings.FORGE_WITHDRAWAL_DAILY_LIMIT),
    }
