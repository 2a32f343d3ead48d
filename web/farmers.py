"""The farmer's pages: browse factories, claim, submit, watch the score, earnings and
withdrawals. Thin: parse input, call one service or selector, render; the services' errors
become field errors or messages.

Every page needs a logged-in farmer (other roles get 403); a farmer's claims and submissions
are looked up through selectors scoped to that farmer, so anyone else's are a 404.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import user_balances, withdrawals_of
from accounts.services import withdrawal_request
from core.exceptions import ApplicationError, NotFound
from core.money import parse_amount
from core.pages import role_required
from core.templatetags.forge_tags import money
from evidence.intake import recording_submit
from farmers.reputation import reputation_hints, reputation_parts
from farmers.selectors import reputation_history, reputation_of, reputation_profile
from ledger.services import InsufficientFunds
from pools import farmer_selectors as selectors
from pools.access import access_claim, access_factory, access_submission
from pools.demonstrations import EXAMPLE_DEMONSTRATION
from pools.grading.evidence import evidence_rows
from pools.models import Claim
from pools.selectors import economics_config
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from reviews.selectors import appeal_of
from reviews.services import appeal_create, appeal_opened_at, appeal_refusal, appeal_window

from .farmer_forms import AppealForm, BrowseForm, DemonstrationForm, WithdrawalForm

PAGE_SIZE = 25


# Logged in (else the login page) and a farmer (else 403).
farmer_required = role_required("farmer")


# ---- Browse and claim -------------------------------------------------------------------------


@farmer_required
@require_GET
def browse(request):
    reputation = reputation_of(request.user)
    form = BrowseForm(request.GET or None, categories=selectors.browse_categories())
    form.is_valid()  # invalid filters are shown next to their field and ignored
    factories = selectors.factories_for_browse(reputation=reputation, **form.filters())
    page = Paginator(factories, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "farmers/browse.html",
        {
            "form": form,
            "filters_open": any(request.GET.get(name) for name in form.fields) or not page.paginator.count,
            "page": page,
            "rows": selectors.browse_rows(page.object_list, reputation=reputation),
            "reputation": reputation,
            "open_claims": selectors.open_claims_count(request.user),
        },
    )


@farmer_required
@require_GET
def factory_preview(request, factory_id: int):
    """A factory before claiming: instructions, expected time, what a claim pays after the fee
    (the settlement formula) and how long a claim lasts. Reading it starts no timer."""
    access_factory(request.user, factory_id, need="view")  # else the 404 every page and the API give
    reputation = reputation_of(request.user)
    factory = (
        selectors.factories_for_browse(reputation=reputation)
        .defer(None)
        .select_related("token")
        .filter(pk=factory_id)
        .first()
    )
    if factory is None:  # visible (they worked on it) but no longer open to claims
        raise NotFound("No such factory.")
    return render(
        request,
        "farmers/factory.html",
        {
            "factory": factory,
            "row": selectors.browse_rows([factory], reputation=reputation)[0],
            "pay": selectors.pay_preview(factory),
            "checks": selectors.factory_check_lines(factory),
        },
    )


@farmer_required
@require_GET
def demonstration_format(request):
    """What a demonstration looks like, for farmers pasting one (linked from the claim page)."""
    return render(request, "farmers/format.html")


@farmer_required
@require_POST
def claim_start(request, factory_id: int):
    # As the API: any factory that exists; claim_create says why one cannot be claimed.
    factory = access_factory(request.user, factory_id, need="claim")
    try:
        claim = claim_create(factory=factory, farmer=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("farmers:browse")
    messages.success(request, f"Claimed: {factory.title}. Submit before the claim expires.")
    return redirect("farmers:claim", claim_id=claim.pk)


@farmer_required
def claim_detail(request, claim_id: int):
    claim = access_claim(request.user, claim_id)  # someone else's: the 404 the API gives
    if claim.status == Claim.Status.SUBMITTED:
        return redirect("farmers:submission", submission_id=claim.submission.pk)
    expired = claim.status == Claim.Status.EXPIRED or claim.expires_at <= timezone.now()
    inserting = request.method == "POST" and "insert_example" in request.POST
    if inserting:  # the worked example in the JSON box, nothing submitted
        form = DemonstrationForm(initial={"demonstration": json.dumps(EXAMPLE_DEMONSTRATION, indent=2)})
    elif request.method == "POST":
        form = DemonstrationForm(request.POST, request.FILES)
    else:
        form = DemonstrationForm()
    status = 200
    if request.method == "POST" and not expired and not inserting:
        if form.is_valid():
            submission = _submit(request, claim, form)
            if submission is not None:
                # No flash message: the submission page's status block says "received, being
                # scored" itself, and changes when the score comes (a message would not).
                return redirect("farmers:submission", submission_id=submission.pk)
        status = 400
    return render(
        request,
        "farmers/claim.html",
        {
            "claim": claim,
            "factory": claim.factory,
            "form": form,
            "expired": expired,
            "requires_recording": bool((claim.terms or {}).get("requires_recording")),
            "pool_id": f"factory-{claim.factory_id}",
            "checks": selectors.claim_check_lines(claim),
        },
        status=status,
    )


def _submit(request, claim: Claim, form: DemonstrationForm):
    field = form.cleaned_data["source_field"]
    try:
        if field == "archive":
            with form.cleaned_data["archive"].open("rb") as archive:
                return recording_submit(
                    claim_id=claim.pk,
                    farmer=request.user,
                    archive=archive,
                    final_state=form.cleaned_data.get("final_state") or None,
                )
        return submission_create(claim_id=claim.pk, farmer=request.user, demonstration=form.cleaned_data["parsed"])
    except ValidationError as error:
        for path, problems in error.message_dict.items():
            for problem in problems:
                plain = path in ("demonstration", "archive", "__all__")
                form.add_error(field, problem if plain else f"{path}: {problem}")
    except ApplicationError as error:
        if error.field in ("demonstration", "archive", "video"):  # the archive's or the policy's refusal
            # A claim requiring a recording shows no JSON box: its refusal goes next to the archive.
            form.add_error("archive" if (claim.terms or {}).get("requires_recording") else field, error.message)
        else:
            messages.error(request, error.message)
    return None


# ---- Submissions -----------------------------------------------------------------------------


def _own_submission(request, submission_id: int):
    """The farmer's submission; anyone else's is the 404 the API gives (pools.access)."""
    return access_submission(request.user, submission_id)


@farmer_required
@require_GET
def submission_detail(request, submission_id: int):
    submission = _own_submission(request, submission_id)
    return _submission_page(request, submission, AppealForm())


def _submission_page(request, submission, appeal_form, *, status: int = 200):
    appeal = appeal_of(submission)
    context = {
        **_status_context(submission),
        "factory": submission.factory,
        "appeal": appeal,
        "appeal_form": appeal_form,
        # The form is offered only while an appeal is possible; its refusal explains otherwise.
        "appeal_refusal": None if appeal else appeal_refusal(submission),
        "appeal_deadline": appeal_opened_at(submission) + appeal_window(),
    }
    return render(request, "farmers/submission.html", context, status=status)


@farmer_required
@require_POST
def submission_appeal(request, submission_id: int):
    """Appeal a refused or held score with a note (reviews/services.py appeal_create)."""
    submission = _own_submission(request, submission_id)
    form = AppealForm(request.POST)
    if form.is_valid():
        try:
            appeal_create(farmer=request.user, submission_id=submission.pk, note=form.cleaned_data["note"])
        except ApplicationError as error:
            form.add_error("note" if error.field == "note" else None, error.message)
        else:
            messages.success(request, "Your appeal was sent. You will be told the decision and its reason here.")
            return redirect("farmers:submission", submission_id=submission.pk)
    submission.refresh_from_db()
    return _submission_page(request, submission, form, status=400)


@farmer_required
@require_GET
def submission_status(request, submission_id: int):
    """The live part of the submission page, polled by htmx every 2 s until it is final. The
    poll says what it last showed (`seen`); nothing new is a 204, which htmx does not swap, so
    the live region is announced once per change, not every 2 s."""
    submission = _own_submission(request, submission_id)
    state = _status_state(submission)
    if request.GET.get("seen") == state:
        return HttpResponse(status=204)
    return render(request, "farmers/partials/submission_status.html", _status_context(submission))


def _status_context(submission) -> dict:
    return {
        "submission": submission,
        "state": _status_state(submission),
        "hold": selectors.hold_notice(submission),
        "checks": selectors.submission_check_lines(submission),
        "threshold": economics_config().quality_threshold,
        # The evidence of a screen recording, with the keyframe each check used (issue 17).
        "evidence_checks": evidence_rows(submission.score_breakdown.get("evidence") or submission.evidence),
    }


def _status_state(submission) -> str:
    return f"{submission.status}:{submission.evidence_status}:{submission.quality_score}:{int(submission.needs_review)}"


@farmer_required
@require_GET
def my_work(request):
    page = Paginator(selectors.claims_of(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "farmers/work.html", {"page": page, "now": timezone.now()})


# ---- Earnings and withdrawals ------------------------------------------------------------------


def withdrawal_submit(request, form: WithdrawalForm):
    """Request a withdrawal from a bound form; errors go next to the fields, and the first field
    in error takes the focus (the browser scrolls it into view). Shared with the ambassador
    dashboard (ambassadors withdraw their commissions the same way)."""
    if not form.is_valid():
        _focus_first_error(form)
        return None
    data = form.cleaned_data
    try:
        withdrawal = withdrawal_request(
            user=request.user, token=data["token"], amount=data["amount"], address=data["address"]
        )
    except ValidationError as error:
        for field, problems in error.message_dict.items():
            form.add_error(field if field in form.fields else None, problems)
        _focus_first_error(form)
        return None
    except InsufficientFunds as error:
        # In the user's words, not the ledger's ("user: balance holds ..."): what they have
        # and what they asked for, grouped for reading.
        token = data["token"]
        asked = parse_amount(data["amount"], decimals=token.decimals)
        form.add_error(
            "amount",
            f"You have {money(error.account.balance, token)} available; you asked for {money(asked, token)}.",
        )
        _focus_first_error(form)
        return None
    except ApplicationError as error:
        form.add_error(None, error.message)
        return None
    messages.success(
        request,
        f"Withdrawal of {withdrawal.token.money(withdrawal.amount)} requested to {withdrawal.address}. "
        + (
            "It is above the limits and waits for staff approval; its status is below."
            if withdrawal.status == "approval"
            else "It is sent shortly; its status is below."
        ),
    )
    return withdrawal


def _focus_first_error(form) -> None:
    """Autofocus the first field with an error (the first field for an error of the whole
    form): the page opens scrolled to the form, even when it sits below the fold. (Not a URL
    fragment: browsers skip autofocus on a page opened at a fragment.)"""
    names = [name for name in form.fields if name in form.errors] or list(form.fields)[:1]
    for name in names[:1]:
        form.fields[name].widget.attrs["autofocus"] = True


def _earnings(request, form: WithdrawalForm, *, status: int = 200):
    user = request.user
    profile = reputation_profile(user)
    history = Paginator(selectors.settled_submissions_of(user), PAGE_SIZE).get_page(request.GET.get("page"))
    withdrawals = Paginator(withdrawals_of(user), PAGE_SIZE).get_page(request.GET.get("wpage"))
    return render(
        request,
        "farmers/earnings.html",
        {
            "balances": user_balances(user),
            "totals": selectors.earnings_totals(user),
            "history": history,
            "withdrawals": withdrawals,
            "form": form,
            "profile": profile,
            "parts": reputation_parts(profile.breakdown),
            "hints": reputation_hints(profile.breakdown),
            "reputation_history": reputation_history(user),
        },
        status=status,
    )


@farmer_required
@require_GET
def earnings(request):
    return _earnings(request, WithdrawalForm())


@farmer_required
@require_POST
def withdrawal_create(request):
    form = WithdrawalForm(request.POST)
    if withdrawal_submit(request, form) is not None:
        return redirect("farmers:earnings")
    return _earnings(request, form, status=400)
