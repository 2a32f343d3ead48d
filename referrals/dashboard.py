"""The ambassador dashboard (/ambassador/): becoming an ambassador, the referral code and link,
who signed up through it, commissions per token over time, tier and stake, staking and
unstaking CLONES, and withdrawing commissions.

The reads the page needs are at the top (this module owns the page, referrals.selectors the
rules); the views below are thin: parse a form, call one service, show what happened.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import user_balances
from farmers.forms import WithdrawalForm
from farmers.selectors import withdrawals_of
from farmers.views import withdrawal_submit
from forge import charts
from forge.exceptions import ApplicationError
from forge.money import format_amount
from ledger.fields import AmountField
from ledger.models import Token
from ledger.services import InsufficientFunds
from pools.models import Submission

from .models import Ambassador, CommissionTier, Referral, Unstake
from .selectors import ambassador_for_user, tier_rates
from .services import STAKE_TOKEN, ambassador_create, stake, unstake

CHART_DAYS = 30
PAGE_SIZE = 25

# ---- Reads ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NextTier:
    tier: int
    rate: object  # Decimal
    threshold_units: int  # CLONES base units
    needed_units: int  # threshold - current stake


def referral_counts(ambassador: Ambassador) -> dict[str, int]:
    counts = ambassador.referrals.aggregate(
        farmers=Count("pk", filter=Q(user__role="farmer")),
        creators=Count("pk", filter=Q(user__role="creator")),
    )
    return {"farmers": counts["farmers"], "creators": counts["creators"]}


def referrals_of(ambassador: Ambassador):
    return Referral.objects.filter(ambassador=ambassador).select_related("user").order_by("-created_at", "-id")


def _commission_rows(user, *, since=None):
    """[(token_id, day, units)] of commissions paid to `user`, from both sides of settlements."""
    rows: dict[tuple[int, date], int] = defaultdict(int)
    for side, field in (
        ("farmer_ambassador", "farmer_ambassador_commission"),
        ("factory_ambassador", "factory_ambassador_commission"),
    ):
        queryset = Submission.objects.filter(**{side: user, f"{field}__gt": 0})
        if since is not None:
            queryset = queryset.filter(settled_at__gte=since)
        for token_id, day, total in (
            queryset.annotate(day=TruncDate("settled_at"))
            .values("factory__token", "day")
            .annotate(total=Sum(field, output_field=AmountField()))
            .values_list("factory__token", "day", "total")
        ):
            rows[(token_id, day)] += int(total)
    return rows


def commission_totals(user) -> list[dict]:
    """[{token, total}] of every commission `user` earned, per token."""
    totals: dict[int, int] = defaultdict(int)
    for field, side in (
        ("farmer_ambassador_commission", "farmer_ambassador"),
        ("factory_ambassador_commission", "factory_ambassador"),
    ):
        for token_id, total in (
            Submission.objects.filter(**{side: user, f"{field}__gt": 0})
            .values("factory__token")
            .annotate(total=Sum(field, output_field=AmountField()))
            .values_list("factory__token", "total")
        ):
            totals[token_id] += int(total)
    tokens = Token.objects.in_bulk(list(totals))
    return [{"token": tokens[token_id], "total": total} for token_id, total in sorted(totals.items())]


def commission_charts(user, *, days: int = CHART_DAYS, today: date | None = None) -> list[charts.Chart]:
    """One line chart per token with commissions in the last `days` days (zeros included)."""
    today = today or timezone.localdate()
    start = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(start, datetime.min.time()))
    rows = _commission_rows(user, since=since)
    tokens = Token.objects.in_bulk({token_id for token_id, _ in rows})
    result = []
    for token_id in sorted(tokens):
        token = tokens[token_id]
        points = [
            ((start + timedelta(days=offset)).isoformat(), rows.get((token_id, start + timedelta(days=offset)), 0))
            for offset in range(days)
        ]
        result.append(
            charts.line_chart(
                points,
                chart_id=f"commissions-{token.symbol.lower()}",
                title=f"Commissions in {token.symbol}, last {days} days",
                description=f"Commissions earned per day in {token.symbol}.",
                value_format=lambda units, decimals=token.decimals: format_amount(units, decimals=decimals, trim=True),
                columns=("Date", f"Commission ({token.symbol})"),
                unit=token.symbol,
                short_labels=[label[5:] for label, _ in points],
            )
        )
    return result


def next_tier(ambassador: Ambassador, *, stake_units: int, token: Token) -> NextTier | None:
    """The lowest tier above the one the stake reaches, and the CLONES still needed for it."""
    tier = CommissionTier.objects.filter(tier__gt=ambassador.stake_tier).order_by("tier").first()
    if tier is None:
        return None
    threshold_units = int(tier.stake_threshold) * 10**token.decimals
    return NextTier(
        tier=tier.tier,
        rate=tier.commission_rate,
        threshold_units=threshold_units,
        needed_units=max(threshold_units - stake_units, 0),
    )


def referral_link(request, code: str) -> str:
    """The absolute /r/<code> link to share."""
    return request.build_absolute_uri(reverse("referrals:link", args=[code]))


# ---- Forms ----------------------------------------------------------------------------------


class StakeForm(forms.Form):
    amount = forms.CharField(
        max_length=40,
        label=f"Amount ({STAKE_TOKEN})",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


# ---- Views ----------------------------------------------------------------------------------


def _dashboard(request, *, stake_form=None, unstake_form=None, withdrawal_form=None, status: int = 200):
    user = request.user
    ambassador = ambassador_for_user(user)
    context = {"ambassador": ambassador}
    if ambassador is not None:
        balances = user_balances(user)
        clones = next((row for row in balances if row["token"].symbol == STAKE_TOKEN), None)
        stake_units = clones["staked"] if clones else 0
        rates = tier_rates()
        context.update(
            {
                "link": referral_link(request, ambassador.code),
                "counts": referral_counts(ambassador),
                "referrals": Paginator(referrals_of(ambassador), PAGE_SIZE).get_page(request.GET.get("page")),
                "tier_rate": rates.get(ambassador.tier, 0),
                "tiers": CommissionTier.objects.all(),
                "clones": clones,
                "stake_units": stake_units,
                "next_tier": next_tier(ambassador, stake_units=stake_units, token=clones["token"]) if clones else None,
                "unstakes": Unstake.objects.filter(ambassador=ambassador, status=Unstake.Status.PENDING),
                "totals": commission_totals(user),
                "charts": commission_charts(user),
                "chart_days": CHART_DAYS,
                "balances": balances,
                "withdrawals": Paginator(withdrawals_of(user), PAGE_SIZE).get_page(request.GET.get("wpage")),
                "stake_form": stake_form or StakeForm(prefix="stake"),
                "unstake_form": unstake_form or StakeForm(prefix="unstake"),
                "form": withdrawal_form or WithdrawalForm(),
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
