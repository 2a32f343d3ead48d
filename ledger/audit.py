"""The ledger audit: recompute every balance from the entries and check the invariants of
economics.md per token. Set-based SQL, so it stays fast on millions of entries.

Apps add their own cross-checks (e.g. pools: reserved balances match open claims) through
`settings.LEDGER_AUDIT_CHECKS`, a list of dotted paths to callables returning a list of
mismatch strings. The ledger itself imports no app.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Sum
from django.utils.module_loading import import_string

from core.money import format_amount

from .models import Account, Entry, Token

GROUPS = {
    "pools": {Account.Kind.POOL_AVAILABLE, Account.Kind.POOL_RESERVED},
    "balances": {Account.Kind.USER_BALANCE, Account.Kind.USER_PENDING_WITHDRAWAL},
    "staked": {Account.Kind.USER_STAKE, Account.Kind.USER_UNBONDING},
    "treasury": {Account.Kind.TREASURY},
}


@dataclass
class AuditReport:
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict:
        return {"ok": self.ok, "tokens": self.tokens, "mismatches": self.mismatches}


def ledger_audit() -> AuditReport:
    report = AuditReport()
    tokens = {token.pk: token for token in Token.objects.all()}

    # 1. Every transaction's entries sum to zero per token.
    unbalanced = (
        Entry.objects.values("transaction_id", "token_id")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("transaction_id")[:20]
    )
    for row in unbalanced:
        report.mismatches.append(
            f"transaction {row['transaction_id']} is unbalanced in {tokens[row['token_id']]}: {row['total']}"
        )

    # 2. Every stored balance equals the sum of its entries; none is negative unless allowed.
    sums = dict(Entry.objects.values("account_id").annotate(total=Sum("amount")).values_list("account_id", "total"))
    per_token: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for account in Account.objects.only("id", "kind", "holder", "token_id", "balance").iterator(chunk_size=5000):
        recomputed = int(sums.get(account.pk) or 0)
        if recomputed != account.balance:
            report.mismatches.append(
                f"account {account.pk} ({account.holder}/{account.kind}) stores {account.balance}, "
                f"entries sum to {recomputed}"
            )
        if account.balance < 0 and account.kind != Account.Kind.WORLD_DEPOSITS:
            report.mismatches.append(f"account {account.pk} ({account.holder}/{account.kind}) is negative")
        totals = per_token[account.token_id]
        totals["deposited"] -= account.balance if account.kind == Account.Kind.WORLD_DEPOSITS else 0
        totals["withdrawn"] += account.balance if account.kind == Account.Kind.WORLD_WITHDRAWALS else 0
        for group, kinds in GROUPS.items():
            if account.kind in kinds:
                totals[group] += account.balance

    # 3. Per token: deposits - withdrawals = pools + balances + stakes + treasury.
    for token_id, token in tokens.items():
        totals = per_token[token_id]
        held = sum(totals[group] for group in GROUPS)
        if totals["deposited"] - totals["withdrawn"] != held:
            report.mismatches.append(
                f"{token.symbol}: deposited - withdrawn = {totals['deposited'] - totals['withdrawn']} "
                f"but accounts hold {held}"
            )
        report.tokens[token.symbol] = {
            name: format_amount(totals[name], decimals=token.decimals)
            for name in ("deposited", "pools", "balances", "staked", "treasury", "withdrawn")
        }

    # 4. The apps' own cross-checks.
    for path in getattr(settings, "LEDGER_AUDIT_CHECKS", []):
        report.mismatches.extend(import_string(path)())
    return report
