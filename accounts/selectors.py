"""Reads about accounts: a user's balances per token, their withdrawals."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import QuerySet

from core.db import AnyId  # noqa: F401 - registers the `__any_id` lookup
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
    user_ids = list(user_ids)
    if not user_ids:
        return {}
    for user_id, address in Withdrawal.objects.filter(user_id__any_id=user_ids).values_list("user_id", "address"):
        result[user_id].add(address)
    return dict(result)


def users_linked(user_ids, *, depth: int | None = None) -> dict[int, dict[int, str]]:
    """{user id: {linked user id: why}} for each of these users: the accounts that look like
    the same person (docs/security.md, "Account links"), following links up to `depth` hops
    (settings.FORGE_LINK_DEPTH): the stored links staff have not dismissed, and withdrawals to
    one address (read directly, so a link holds as soon as the second withdrawal exists).
    One or two queries per hop, none past the last user reached."""
    from django.conf import settings
    from django.db.models import Q

    from .models import AccountLink

    depth = settings.FORGE_LINK_DEPTH if depth is None else depth
    result: dict[int, dict[int, str]] = {int(pk): {} for pk in user_ids}
    frontier = {origin: {origin} for origin in result}
    edges: dict[int, list[tuple[int, str]]] = defaultdict(list)
    loaded: set[int] = set()
    for _ in range(depth):
        need = set().union(*frontier.values()) - loaded
        if need:
            links = AccountLink.objects.filter(Q(user_low_id__any_id=need) | Q(user_high_id__any_id=need)).exclude(
                status=AccountLink.Status.DISMISSED
            )
            for low, high, evidence in links.values_list("user_low_id", "user_high_id", "evidence"):
                edges[low].append((high, evidence))
                edges[high].append((low, evidence))
            by_address = withdrawal_addresses_by_user(need)
            if by_address:
                sharers = Withdrawal.objects.filter(
                    address__in={a for addresses in by_address.values() for a in addresses}
                ).values_list("user_id", "address")
                for node, addresses in by_address.items():
                    for other, address in sharers:
                        if other != node and address in addresses:
                            edges[node].append((other, f"withdrawals to the same wallet {address}"))
            loaded |= need
        frontier_next = {}
        for origin, nodes in frontier.items():
            reached = set()
            for node in sorted(nodes):
                for other, why in sorted(edges.get(node, ())):
                    if other != origin and other not in result[origin]:
                        result[origin][other] = why if node == origin else f"{why} (through user {node})"
                        reached.add(other)
            frontier_next[origin] = reached
        frontier = frontier_next
        if not any(frontier.values()):
            break
    return result


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
