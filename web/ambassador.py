"""The ambassador dashboard (/ambassador/): becoming an ambassador, the referral code and link,
who signed up through it, commissions per token over time, tier and stake, staking and
unstaking CLONES, and withdrawing commissions.

The reads the page needs are at the top (this module owns the page, referrals.selectors the
rules); the views below are thin: parse a form, call one service, show what happened.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import user_balances, withdrawals_of
from core import charts
from core.exceptions import ApplicationError
from core.money import format_amount
from ledger.models import Token
from ledger.services import InsufficientFunds
from referrals.models import Ambassador, CommissionTier
from referrals.selectors import (
    ambassador_earnings,
    ambassador_earnings_by_side,
    ambassador_for_user,
    platform_economics,
    referred_users,
    stake_position,
    unstakes_pending,
)
from referrals.services import STAKE_TOKEN, ambassador_create, stake, unstake

from .farmer_forms import WithdrawalForm
from .farmers import withdrawal_submit

CHART_DAYS = 30
PAGE_SIZE = 25

# ---- Reads (the rules live in referrals.selectors; these shape them for the page) ------------


def referral_counts(ambassador: Ambassador, *, with_total: bool = False) -> dict[str, int]:
    counts = ambassador.referrals.aggregate(
        farmers=Count("pk", filter=Q(user__role="farmer")),
        creators=Count("pk", filter=Q(user__role="creator")),
        total=Count("pk"),
    )
    if not with_total:
        del counts["total"]
    return counts


def commission_summary(
    ambassador: Ambassador, *, days: int = CHART_DAYS, today: date | None = None, tokens: dict | None = None
):
    """(totals, charts): all-time commissions per token [{token, total, farmer_side,
    creator_side}], and one line chart
    per token of the commissions per day over the last `days` days (zeros included).
    `tokens` ({symbol: Token}, e.g. the enabled ones) saves reading them again."""
    today = today or timezone.localdate()
    start = today - timedelta(days=days - 1)
    # From the commission rollup: one total per token, and at most days x tokens rows.
    sides = ambassador_earnings_by_side(ambassador)
    totals = {symbol: farmer + factory for symbol, (farmer, factory) in sides.items()}
    per_day: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for row in ambassador_earnings(ambassador, since=start):
        per_day[row["token"]][row["day"]] += row["farmer_side"] + row["factory_side"]
    tokens = dict(tokens or {})
    if set(totals) - set(tokens):  # a token not handed in (disabled since): read them
        tokens.update({token.symbol: token for token in Token.objects.filter(symbol__in=list(totals))})
    summary = [
        {
            "token": tokens[symbol],
            "total": totals[symbol],
            "farmer_side": sides[symbol][0],
            "creator_side": sides[symbol][1],
        }
        for symbol in sorted(totals)
        if totals[symbol]
    ]
    result = []
    for row in summary:
        token = row["token"]
        days_range = [start + timedelta(days=offset) for offset in range(days)]
        points = [(day.isoformat(), per_day[token.symbol].get(day, 0)) for day in days_range]
        result.append(
            charts.line_chart(
                points,
                chart_id=f"commissions-{token.symbol.lower()}",
                title=f"Commissions in {token.symbol}, last {days} days",
                description=f"Commissions earned per day in {token.symbol}.",
                value_format=lambda units, decimals=token.decimals: format_amount(units, decimals=decimals, trim=True),
                columns=("Date", f"Commission ({token.symbol})"),
                unit=token.symbol,
                short_labels=[day.strftime("%m-%d") for day in days_range],
            )
        )
    return summary, result


def referral_link(request, code: str) -> str:
    """The absolute /r/<code> link to share."""
    return request.build_absolute_uri(reverse("referrals:link", args=[code]))


# ---- Forms ----------------------------------------------------------------------------------


class StakeForm(forms.Form):
    amount = forms.CharField(
        max_length=40,
        strip=False,
        label=f"Amount ({STAKE_TOKEN})",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


# ---- Views ----------------------------------------------------------------------------------


def _dashboard(request, *, stake_form=None, unstake_form=None, withdrawal_form=None, status: int = 200):
    user = request.user
    ambassador = ambassador_for_user(user)
    context = {"ambassador": ambassador}
    if ambassador is not None:
        # The tier table, the balances' tokens and the referral count are read once each and
        # handed on (the page runs a fixed, small number of queries: tests/bench).
        tiers = list(CommissionTier.objects.all())
        balances = user_balances(user)
        stake_token = next((row["token"] for row in balances if row["token"].symbol == STAKE_TOKEN), None)
        position = stake_position(ambassador, tiers=tiers, token=stake_token)
        rates = {tier.tier: tier.commission_rate for tier in tiers}
        totals, commission_charts = commission_summary(
            ambassador, tokens={row["token"].symbol: row["token"] for row in balances}
        )
        counts = referral_counts(ambassador, with_total=True)
        referrals = Paginator(referred_users(ambassador), PAGE_SIZE)
        referrals.count = counts.pop("total")  # the aggregate above counted them already
        context.update(
            {
                "link": referral_link(request, ambassador.code),
                "counts": counts,
                "referrals": referrals.get_page(request.GET.get("page")),
                "tier_rate": rates.get(ambassador.tier, Decimal(0)),
                "platform_fee_rate": platform_economics().platform_fee_rate,
                "tiers": tiers,
                "position": position,
                "next_tier": next((tier for tier in tiers if tier.tier == position.next_tier), None),
                "unstakes": unstakes_pending(ambassador),
                "totals": totals,
                "charts": commission_charts,
                "chart_days": CHART_DAYS,
                "balances": balances,
                "withdrawals": Paginator(withdrawals_of(user), PAGE_SIZE).get_page(request.GET.get("wpage")),
                "stake_form": stake_form or StakeForm(prefix="stake"),
                "unstake_form": unstake_form or StakeForm(prefix="unstake"),
                "form": withdrawal_form
                or WithdrawalForm(tokens={row["token"].symbol: row["token"] for row in balances}),
            }
        )
    return render(request, "referrals/dashboard.html", context, status=status)


@login_required
@require_GET
def dashboard(request):
    return _dashboard(request)


@login_required
@require_POST
def become(request):
    try:
        ambassador, created = ambassador_create(user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("referrals:dashboard")
    if created:
        messages.success(request, f"You are an ambassador. Your referral code is {ambassador.code}.")
    return redirect("referrals:dashboard")


def _own_ambassador(request) -> Ambassador | None:
    ambassador = ambassador_for_user(request.user)
    if ambassador is None:
        messages.error(request, "Become an ambassador first.")
    return ambassador


def _stake_action(request, *, prefix: str, service, done: str):
    ambassador = _own_ambassador(request)
    if ambassador is None:
        return redirect("referrals:dashboard")
    form = StakeForm(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            service(ambassador=ambassador, amount=form.cleaned_data["amount"])
        except ValidationError as error:
            form.add_error("amount", error.message_dict.get("amount", error.messages))
        except InsufficientFunds as error:
            form.add_error("amount", error.message)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, done.format(amount=form.cleaned_data["amount"], token=STAKE_TOKEN))
            return redirect("referrals:dashboard")
    return _dashboard(request, **{f"{prefix}_form": form}, status=400)


@login_required
@require_POST
def stake_view(request):
    return _stake_action(request, prefix="stake", service=stake, done="Staked {amount} {token}.")


@login_required
@require_POST
def unstake_view(request):
    return _stake_action(
        request,
        prefix="unstake",
        service=unstake,
        done="Unstaking {amount} {token}: it returns to your balance after the cooldown.",
    )


@login_required
@require_POST
def withdraw(request):
    if _own_ambassador(request) is None:
        return redirect("referrals:dashboard")
    form = WithdrawalForm(request.POST)
    if withdrawal_submit(request, form) is not None:
        return redirect("referrals:dashboard")
    return _dashboard(request, withdrawal_form=form, status=400)
