"""The creator's dashboard: their factories (pools) with the unread alerts (datasets), so it
spans two apps and lives above both; and the creator's balance page (accounts' withdrawals,
pools' funding from the balance)."""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import user_balances, withdrawals_of
from core.exceptions import ApplicationError
from datasets.selectors import alerts_unread
from ledger.services import InsufficientFunds
from pools.selectors import factories_fundable_by, factory_list_for_creator, pool_summary_annotated
from pools.services.deposits import factory_fund_from_balance
from pools.views import _page, creator_required

from .farmer_forms import WithdrawalForm
from .farmers import withdrawal_submit


@creator_required
def dashboard(request):
    page_obj = _page(request, factory_list_for_creator(request.user))
    rows = [(factory, pool_summary_annotated(factory)) for factory in page_obj]
    alerts = list(alerts_unread(request.user))
    return render(request, "pools/dashboard.html", {"page_obj": page_obj, "rows": rows, "alerts": alerts})


# ---- The creator's balance: refunds of closed factories, withdrawn or put back into a pool ----------


class FundFromBalanceForm(forms.Form):
    factory = forms.TypedChoiceField(label="Factory", coerce=int)
    amount = forms.CharField(
        max_length=40, strip=False, widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
    )
    # The idempotency key: a double submit or a retried POST funds once (pools.services.deposits).
    request_id = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, creator, **kwargs):
        super().__init__(*args, **kwargs)
        self.factories = {factory.pk: factory for factory in factories_fundable_by(creator)}
        self.fields["factory"].choices = [
            (pk, f"{factory.title} ({factory.token.symbol})") for pk, factory in self.factories.items()
        ]
        if not self.is_bound:
            self.initial["request_id"] = secrets.token_urlsafe(18)


def _balance_page(request, *, withdrawal_form=None, fund_form=None, status: int = 200):
    user = request.user
    return render(
        request,
        "pools/balance.html",
        {
            "balances": user_balances(user),
            "withdrawals": Paginator(withdrawals_of(user), 20).get_page(request.GET.get("wpage")),
            "form": withdrawal_form or WithdrawalForm(),
            "fund_form": fund_form or FundFromBalanceForm(creator=user),
        },
        status=status,
    )


@creator_required
@require_GET
def balance(request):
    """What the creator holds (refunds of closed factories, returned pools): withdraw it to a
    linked wallet, or fund another factory with it."""
    return _balance_page(request)


@creator_required
@require_POST
def balance_withdraw(request):
    form = WithdrawalForm(request.POST)
    if withdrawal_submit(request, form) is not None:
        return redirect("pools:balance")
    return _balance_page(request, withdrawal_form=form, status=400)


@creator_required
@require_POST
def balance_fund(request):
    form = FundFromBalanceForm(request.POST, creator=request.user)
    if form.is_valid():
        factory = form.factories[form.cleaned_data["factory"]]
        try:
            deposit = factory_fund_from_balance(
                factory=factory,
                actor=request.user,
                amount=form.cleaned_data["amount"],
                request_id=form.cleaned_data["request_id"],
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        except ApplicationError as error:
            form.add_error("amount" if isinstance(error, InsufficientFunds) else None, error.message)
        else:
            messages.success(
                request, f"{deposit.token.money(deposit.amount)} from your balance added to “{factory.title}”."
            )
            return redirect("pools:balance")
    return _balance_page(request, fund_form=form, status=400)
