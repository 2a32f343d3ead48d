"""The factory creator's pages: dashboard, create/edit, fund, rate, pause/resume/close and
the factory detail with its submissions, charts and participation. Each view reads through
pools.selectors and writes through one pools.services function; errors from the services
are shown next to the fields or as messages (core.pages.show_service_error)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core import charts
from core.exceptions import ApplicationError, Forbidden, NotFound
from core.money import format_amount
from core.pages import role_required, show_service_error
from core.templatetags.forge_tags import amount

from .access import access_factory, access_submission
from .forms import (
    BonusForm,
    FactoryCreateForm,
    FactoryDetailsForm,
    FactoryTaskForm,
    FarmerListForm,
    FlagForm,
    FundForm,
    RateForm,
)
from .models import Deposit, Factory, FactoryTask
from .selectors import (
    economics_config,
    factory_daily_spend,
    factory_deposits,
    factory_for_creator,
    factory_low_participation,
    factory_participation,
    factory_rate_history,
    factory_score_histogram,
    factory_submissions_for_creator,
    farmer_list_of,
    pool_summary_annotated,
    qualification_choices,
    tokens_enabled,
)
from .services.controls import bonus_give, farmer_list_remove, farmer_list_set, flag_open
from .services.deposits import deposit_create
from .services.factories import (
    factory_close,
    factory_create,
    factory_pause,
    factory_rate_change,
    factory_resume,
    factory_update,
)
from .services.factory_tasks import factory_task_add, factory_task_remove

PAGE_SIZE = 25
SERVICE_ERRORS = (ValidationError, ApplicationError)
# Who may not do this at all: answered as the 403/404 pages, as the API answers them, not as a
# message next to the form.
REFUSALS = (Forbidden, NotFound)
creator_required = role_required("creator")


def _factory(request, pk: int, *, need: str) -> Factory:
    """The factory as the API gives it for `need` (pools.access: someone else's is a 403 to
    act on, a 404 to look at), with the pool totals the creator's pages show."""
    factory = access_factory(request.user, pk, need=need)
    return factory_for_creator(factory.creator, factory.pk)


def _page(request, queryset, *, param: str = "page"):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get(param))


def _back(request, factory: Factory):
    """Where a POST action returns: a same-site `next` (the dashboard), else the factory."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("pools:factory-detail", pk=factory.pk)


@creator_required
def factory_create_page(request):
    tokens = list(tokens_enabled())
    form = FactoryCreateForm(
        request.POST or None,
        tokens=tokens,
        qualification_choices=qualification_choices(request.user),
        initial={
            "claim_timeout_minutes": economics_config().default_claim_timeout_minutes,
            # The stablecoin is the usual choice; the others stay one click away.
            "token": "USDC" if any(token.symbol == "USDC" for token in tokens) else None,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            factory = factory_create(creator=request.user, **form.cleaned_data)
        except REFUSALS:
            raise  # the 403/404 the API gives (core.middleware)
        except SERVICE_ERRORS as error:
            show_service_error(request, error, form)
        else:
            messages.success(request, f"Factory “{factory.title}” created. Fund its pool to start collecting data.")
            return redirect("pools:factory-detail", pk=factory.pk)
    return render(request, "pools/factory_form.html", {"form": form, "factory": None})


@creator_required
def factory_edit(request, pk: int):
    factory = _factory(request, pk, need="owner")
    form = FactoryDetailsForm(
        request.POST or None,
        initial=FactoryDetailsForm.initial_for(factory),
        qualification_choices=qualification_choices(factory.creator, exclude=factory.pk),
    )
    if request.method == "POST" and form.is_valid():
        try:
            factory_update(factory=factory, actor=request.user, **form.cleaned_data)
        except REFUSALS:
            raise  # the 403/404 the API gives (core.middleware)
        except SERVICE_ERRORS as error:
            show_service_error(request, error, form)
        else:
            messages.success(request, "Your changes to the factory were saved.")
            return redirect("pools:factory-detail", pk=factory.pk)
    return render(request, "pools/factory_form.html", {"form": form, "factory": factory})


@creator_required
def factory_fund(request, pk: int):
    factory = _factory(request, pk, need="owner")
    form = FundForm(request.POST or None, token=factory.token)
    if request.method == "POST" and form.is_valid():
        try:
            deposit = deposit_create(factory=factory, actor=request.user, **form.cleaned_data)
        except REFUSALS:
            raise  # the 403/404 the API gives (core.middleware)
        except SERVICE_ERRORS as error:
            show_service_error(request, error, form)
        else:
            amount = factory.token.money(deposit.amount)
            if deposit.status == Deposit.Status.CONFIRMED:
                messages.success(request, f"Deposit of {amount} confirmed and added to the pool.")
            else:
                messages.info(
                    request,
                    f"Deposit of {amount} recorded. It is added to the pool once transaction "
                    f"{deposit.tx_ref} is confirmed.",
                )
            return redirect("pools:factory-detail", pk=factory.pk)
    return render(
        request,
        "pools/factory_fund.html",
        {
            "factory": factory,
            "summary": pool_summary_annotated(factory),
            "form": form,
            "page_obj": _page(request, factory_deposits(factory)),
            "autoconfirm": settings.FORGE_DEPOSITS_AUTOCONFIRM,
        },
    )


@creator_required
def factory_rate(request, pk: int):
    factory = _factory(request, pk, need="owner")
    current = format_amount(factory.reward, decimals=factory.token.decimals, trim=True)
    form = RateForm(request.POST or None, initial={"reward": current})
    if request.method == "POST" and form.is_valid():
        try:
            updated = factory_rate_change(factory=factory, reward=form.cleaned_data["reward"], actor=request.user)
        except REFUSALS:
            raise  # the 403/404 the API gives (core.middleware)
        except SERVICE_ERRORS as error:
            show_service_error(request, error, form)
        else:
            old, new = factory.token.money(factory.reward), factory.token.money(updated.reward)
            if updated.reward == factory.reward:
                messages.info(request, f"The reward is already {new}; nothing changed.")
            else:
                messages.success(request, f"Reward changed from {old} to {new}. It applies to new claims.")
            return redirect("pools:factory-rate", pk=factory.pk)
    return render(
        request,
        "pools/factory_rate.html",
        {"factory": factory, "form": form, "page_obj": _page(request, factory_rate_history(factory))},
    )


def _status_action(service, done: str):
    @creator_required
    @require_POST
    def view(request, pk: int):
        factory = _factory(request, pk, need="owner")
        try:
            service(factory=factory, actor=request.user)
        except REFUSALS:
            raise  # the 403/404 the API gives (core.middleware)
        except ApplicationError as error:
            show_service_error(request, error)
        else:
            messages.success(request, f"“{factory.title}” {done}")
        return _back(request, factory)

    return view


factory_pause_action = _status_action(factory_pause, "is paused: farmers no longer see it. Open claims continue.")
factory_resume_action = _status_action(factory_resume, "is active again.")


@creator_required
def factory_close_page(request, pk: int):
    """GET: what closing does, with a confirmation button. POST: close."""
    factory = _factory(request, pk, need="owner")
    if request.method != "POST":
        summary = pool_summary_annotated(factory)
        return render(request, "pools/factory_close.html", {"factory": factory, "summary": summary})
    if factory.status == Factory.Status.CLOSED:
        messages.info(request, f"“{factory.title}” is already closed.")
        return redirect("pools:factory-detail", pk=factory.pk)
    try:
        factory_close(factory=factory, actor=request.user)
    except REFUSALS:
        raise  # the 403/404 the API gives (core.middleware)
    except ApplicationError as error:
        show_service_error(request, error)
    else:
        closed = _factory(request, pk, need="owner")
        returned = factory.token.money(closed.returned_to_creator - factory.returned_to_creator)
        text = f"“{factory.title}” is closed. {returned} returned to your balance."
        if closed.reserved_account.balance:
            held = factory.token.money(closed.reserved_account.balance)
            text += f" {held} still held by open claims returns as each one is submitted or expires."
        messages.success(request, text)
    return redirect("pools:factory-detail", pk=factory.pk)


def _charts(factory: Factory, participation) -> dict:
    token = factory.token

    def money_text(units):
        return amount(units, token)  # grouped for reading, like the rest of the page

    threshold = economics_config().quality_threshold
    quality = charts.histogram(
        counts=factory_score_histogram(factory),
        chart_id="quality-chart",
        title="Quality score distribution",
        description=(
            "Scores of settled and rejected demonstrations in bins of 0.1; "
            f"scores from {threshold.normalize():f} up are paid."
        ),
        x_axis_label="Quality score",
        columns=("Score", "Demonstrations"),
    )
    days = factory_daily_spend(factory)
    spend = charts.line_chart(
        [(day.isoformat(), units) for day, units in days],
        chart_id="spend-chart",
        title=f"Spend per day ({token.symbol})",
        description="Gross payouts (farmer rewards and fees) per day, UTC.",
        value_format=money_text,
        columns=("Day (UTC)", f"Paid out ({token.symbol})"),
        x_axis_label="Day (UTC)",
        unit=token.symbol,
        short_labels=[f"{day:%b} {day.day}" for day, _ in days],
    )
    hourly = charts.bar_chart(
        [(hour.strftime("%H:00"), claims) for hour, claims, _ in participation.hourly],
        chart_id="claims-chart",
        title="Claims per hour, last 24 hours",
        description="Tasks claimed by farmers in each hour (UTC), the current hour last.",
        columns=("Hour (UTC)", "Claims"),
        x_axis_label="Hour (UTC)",
    )
    return {"quality_chart": quality, "spend_chart": spend, "claims_chart": hourly}


@creator_required
def factory_detail(request, pk: int):
    factory = _factory(request, pk, need="view")
    summary = pool_summary_annotated(factory)
    participation = factory_participation(factory)
    context = {
        "factory": factory,
        "summary": summary,
        "participation": participation,
        "hint": factory_low_participation(factory, participation, available=summary.available),
        "needs_funding": factory.status != Factory.Status.CLOSED and summary.available < factory.reward,
        "page_obj": _page(request, factory_submissions_for_creator(factory)),
    }
    # Before the first claim the charts would be empty axes: the page says what comes next
    # instead (fund a draft; wait for farmers on an open factory).
    context["no_activity"] = factory.status == Factory.Status.DRAFT or not (
        factory.in_flight_count or context["page_obj"].paginator.count or participation.claims
    )
    if not context["no_activity"]:
        context.update(_charts(factory, participation))
    return render(request, "pools/factory_detail.html", context)


@creator_required
def factory_submissions(request, pk: int):
    """The submissions table alone, for htmx to refresh it in place (live status)."""
    factory = _factory(request, pk, need="view")
    page_obj = _page(request, factory_submissions_for_creator(factory))
    return render(request, "pools/_submissions.html", {"factory": factory, "page_obj": page_obj})


@creator_required
def farmer_lists(request):
    """The creator's allow and block lists: GET shows them with a form; POST adds or moves one."""
    form = FarmerListForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                entry = farmer_list_set(creator=request.user, **form.cleaned_data)
            except REFUSALS:
                raise
            except SERVICE_ERRORS as error:
                show_service_error(request, error, form)
            else:
                verb = "blocked" if entry.kind == "block" else "allowed"
                messages.success(request, f"{entry.farmer.username} is {verb}.")
                return redirect("pools:farmer-lists")
    return render(
        request,
        "pools/farmer_lists.html",
        {"form": form, "page_obj": _page(request, farmer_list_of(request.user))},
        status=status,
    )


@creator_required
@require_POST
def farmer_list_remove_action(request, entry_id: int):
    farmer_list_remove(creator=request.user, entry_id=entry_id)  # someone else's: the 404 page
    messages.success(request, "Taken off your list.")
    return redirect("pools:farmer-lists")


def _demonstration_action(form_class, service, done):
    """A POST from the creator's demonstration page: the form, one service, a message, back."""

    @creator_required
    @require_POST
    def view(request, pk: int, submission_id: int):
        factory = access_factory(request.user, pk, need="dataset")  # someone else's: 404
        submission = access_submission(request.user, submission_id)
        if submission.factory_id != factory.pk:
            raise NotFound("No such demonstration.")
        form = form_class(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                messages.error(request, errors[0])
        else:
            try:
                result = service(submission_id=submission.pk, creator=request.user, **form.cleaned_data)
            except REFUSALS:
                raise
            except SERVICE_ERRORS as error:
                show_service_error(request, error)
            else:
                messages.success(request, done(result, factory))
        return redirect("pools:factory-demonstration", pk=factory.pk, submission_id=submission.pk)

    return view


demonstration_flag = _demonstration_action(
    FlagForm, flag_open, lambda flag, factory: "Flagged: staff will review it. No money moves until they decide."
)
demonstration_bonus = _demonstration_action(
    BonusForm,
    bonus_give,
    lambda bonus, factory: (
        f"Bonus of {factory.token.money(bonus.amount)} paid: "
        f"{factory.token.money(bonus.farmer_amount)} to the farmer after the platform fee."
    ),
)


@creator_required
def factory_tasks(request, pk: int):
    """The factory's tasks (a factory with several is claimed task by task): GET lists them with
    a form; POST adds one."""
    factory = _factory(request, pk, need="owner")
    form = FactoryTaskForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                task = factory_task_add(factory=factory, actor=request.user, **form.cleaned_data)
            except REFUSALS:
                raise
            except SERVICE_ERRORS as error:
                show_service_error(request, error, form)
            else:
                messages.success(request, f"Task “{task.title}” added: farmers now choose among the tasks.")
                return redirect("pools:factory-tasks", pk=factory.pk)
    tasks = list(FactoryTask.objects.filter(factory=factory).order_by("position", "pk"))
    return render(
        request, "pools/factory_tasks.html", {"factory": factory, "form": form, "tasks": tasks}, status=status
    )


@creator_required
@require_POST
def factory_task_remove_action(request, pk: int, task_id: int):
    factory = _factory(request, pk, need="owner")
    task = FactoryTask.objects.filter(factory=factory, pk=task_id).first()
    if task is None:
        raise NotFound("No such task.")
    try:
        factory_task_remove(task=task, actor=request.user)
    except ApplicationError as error:
        show_service_error(request, error)
    else:
        messages.success(request, f"Task “{task.title}” removed.")
    return redirect("pools:factory-tasks", pk=factory.pk)
