"""The factory creator's pages: dashboard, create/edit, fund, rate, pause/resume/close and
the factory detail with its submissions, charts and participation. Each view reads through
pools.selectors and writes through one pools.services function; errors from the services
are shown next to the fields or as messages (forge.web.show_service_error)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from forge import charts
from forge.exceptions import ApplicationError, Forbidden, NotFound
from forge.money import format_amount
from forge.web import role_required, show_service_error

from .access import access_export, access_factory
from .forms import FactoryCreateForm, FactoryDetailsForm, FundForm, RateForm
from .models import Deposit, Factory
from .selectors import (
    economics_config,
    factory_daily_spend,
    factory_deposits,
    factory_for_creator,
    factory_list_for_creator,
    factory_low_participation,
    factory_participation,
    factory_rate_history,
    factory_score_histogram,
    factory_submissions_for_creator,
    pool_summary_annotated,
    tokens_enabled,
)
from .services.deposits import deposit_create
from .services.factories import (
    factory_close,
    factory_create,
    factory_pause,
    factory_rate_change,
    factory_resume,
    factory_update,
)

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
def dashboard(request):
    page_obj = _page(request, factory_list_for_creator(request.user))
    rows = [(factory, pool_summary_annotated(factory)) for factory in page_obj]
    from .selectors import alerts_unread

    alerts = list(alerts_unread(request.user))
    return render(request, "pools/dashboard.html", {"page_obj": page_obj, "rows": rows, "alerts": alerts})


@creator_required
def factory_create_page(request):
    tokens = list(tokens_enabled())
    form = FactoryCreateForm(
        request.POST or None,
        tokens=tokens,
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
            raise  # the 403/404 the API gives (forge.middleware)
        except SERVICE_ERRORS as error:
            show_service_error(request, error, form)
        else:
            messages.success(request, f"Factory “{factory.title}” created. Fund its pool to start collecting data.")
            return redirect("pools:factory-detail", pk=factory.pk)
    return render(request, "pools/factory_form.html", {"form": form, "factory": None})


@creator_required
def factory_edit(request, pk: int):
    factory = _factory(request, pk, need="owner")
    form = FactoryDetailsForm(request.POST or None, initial=FactoryDetailsForm.initial_for(factory))
    if request.method == "POST" and form.is_valid():
        try:
            factory_update(factory=factory, actor=request.user, **form.cleaned_data)
        except REFUSALS:
            raise  # the 403/404 the API gives (forge.middleware)
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
            raise  # the 403/404 the API gives (forge.middleware)
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
            raise  # the 403/404 the API gives (forge.middleware)
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
            raise  # the 403/404 the API gives (forge.middleware)
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
        raise  # the 403/404 the API gives (forge.middleware)
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
        return format_amount(int(units), decimals=token.decimals, trim=True)

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
        **_charts(factory, participation),
    }
    return render(request, "pools/factory_detail.html", context)


@creator_required
def factory_submissions(request, pk: int):
    """The submissions table alone, for htmx to refresh it in place (live status)."""
    factory = _factory(request, pk, need="view")
    page_obj = _page(request, factory_submissions_for_creator(factory))
    return render(request, "pools/_submissions.html", {"factory": factory, "page_obj": page_obj})


# ---- Dataset pages: browse, preview, export (docs/datasets.md) -----------------------------


def _dataset_filters(request):
    """The filters from the query string, and the errors of those that could not be read
    (the list then shows the whole dataset rather than a silently different one)."""
    from .selectors import DatasetFilters, dataset_filters_parse

    try:
        return dataset_filters_parse(request.GET), {}
    except ValidationError as error:
        return DatasetFilters(), error.message_dict


def _clock(seconds) -> str:
    """Seconds since the start as m:ss (or h:mm:ss), tenths kept when present."""
    seconds = float(seconds or 0)
    whole = int(seconds)
    tenths = round((seconds - whole) * 10)
    if tenths == 10:
        whole, tenths = whole + 1, 0
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return f"{text}.{tenths}" if tenths else text


def demonstration_timeline(demonstration: dict) -> list[dict]:
    """The steps as rows for people: time since the start, time since the previous step,
    the action and what it acted on (known fields named, the rest kept as `extra`)."""
    rows = []
    previous = None
    known = {"t", "action", "target", "text", "url", "key", "x", "y", "dx", "dy"}
    for index, step in enumerate(demonstration.get("steps") or []):
        t = step.get("t") or 0
        gap = None if previous is None else max(float(t) - float(previous), 0.0)
        previous = t
        rows.append(
            {
                "number": index + 1,
                "at": _clock(t),
                "gap": None if gap is None else f"+{gap:.1f} s",
                "action": step.get("action", ""),
                "target": step.get("target", ""),
                "text": step.get("text", ""),
                "url": step.get("url", ""),
                "key": step.get("key", ""),
                "position": f"({step['x']}, {step['y']})" if "x" in step and "y" in step else "",
                "scroll": f"Δ({step.get('dx', 0)}, {step.get('dy', 0)})" if "dx" in step or "dy" in step else "",
                "extra": {key: value for key, value in step.items() if key not in known},
            }
        )
    return rows


def score_breakdown_rows(breakdown) -> list[dict]:
    """The score breakdown as table rows: each part's score, weight and reasons."""
    rows = []
    for name, part in (breakdown or {}).items():
        if isinstance(part, dict):
            rows.append(
                {
                    "name": str(name).replace("_", " ").capitalize(),
                    "score": part.get("score", ""),
                    "weight": part.get("weight", ""),
                    "reasons": [str(reason) for reason in part.get("reasons") or []],
                }
            )
        else:
            rows.append({"name": str(name).replace("_", " ").capitalize(), "score": part, "weight": "", "reasons": []})
    return rows


@creator_required
def factory_dataset(request, pk: int):
    """The factory's dataset: filters, the list (pseudonymous farmers), and exports."""
    from .selectors import dataset_page_queryset, exports_of_factory, farmer_pseudonym

    factory = _factory(request, pk, need="dataset")
    filters, filter_errors = _dataset_filters(request)
    page_obj = _page(request, dataset_page_queryset(factory, filters))
    rows = [(submission, farmer_pseudonym(factory.pk, submission.farmer_id)) for submission in page_obj]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "factory": factory,
        "page_obj": page_obj,
        "rows": rows,
        "filters": filters,
        "filter_errors": filter_errors,
        "params": request.GET,
        "filter_query": query.urlencode(),
        "exports": exports_of_factory(factory),
        "threshold": economics_config().quality_threshold,
    }
    return render(request, "pools/dataset.html", context)


@creator_required
@require_POST
def factory_export_start(request, pk: int):
    """Start an export of the dataset as the page's filters narrow it."""
    from urllib.parse import parse_qs

    from django.http import QueryDict

    from .selectors import dataset_filters_parse
    from .services.exports import export_request

    factory = _factory(request, pk, need="dataset")
    filter_query = request.POST.get("filter_query", "")
    query = QueryDict(mutable=True)
    for name, values in parse_qs(filter_query).items():
        if name != "page":
            query.setlist(name, values)
    try:
        filters = dataset_filters_parse(query)
    except ValidationError as error:
        show_service_error(request, error)
    else:
        export_request(
            factory=factory,
            actor=request.user,
            filters=filters,
            include_attachments=request.POST.get("include_attachments") == "on",
        )
        messages.success(
            request, "Export started. It appears below with its progress; you will be told when it is ready."
        )
    target = redirect("pools:factory-dataset", pk=factory.pk)
    target["Location"] += (f"?{query.urlencode()}" if query else "") + "#exports"
    return target


def _own_export(request, pk: int, export_id: int):
    factory = _factory(request, pk, need="dataset")
    return factory, access_export(request.user, export_id, factory_id=factory.pk)


@creator_required
def factory_export_status(request, pk: int, export_id: int):
    """One export's row (htmx polls it while it is queued or running)."""
    factory, export = _own_export(request, pk, export_id)
    return render(request, "pools/_export_row.html", {"factory": factory, "export": export})


@creator_required
def factory_export_download(request, pk: int, export_id: int):
    from .apis import export_file_response

    _, export = _own_export(request, pk, export_id)
    try:
        return export_file_response(export)
    except ApplicationError as error:
        show_service_error(request, error)
        return redirect("pools:factory-dataset", pk=pk)


@creator_required
def factory_demonstration(request, pk: int, submission_id: int):
    """One demonstration: the steps as a timeline, notes, final state, score breakdown and
    attachments. Any of the factory's submissions (rejected and flagged work is visible to
    the creator; it is only kept out of the dataset)."""
    from .selectors import dataset_submission, farmer_pseudonym, submission_in_dataset

    factory = _factory(request, pk, need="dataset")
    submission = dataset_submission(factory, submission_id)
    if submission is None:
        raise Http404("No such demonstration.")
    demonstration = submission.demonstration or {}
    context = {
        "factory": factory,
        "submission": submission,
        "demonstration": demonstration,
        "pseudonym": farmer_pseudonym(factory.pk, submission.farmer_id),
        "in_dataset": submission_in_dataset(submission),
        "timeline": demonstration_timeline(demonstration),
        "started_at": _recorded_at(demonstration.get("started_at")),
        "duration": _recorded_duration(demonstration),
        "breakdown": score_breakdown_rows(submission.score_breakdown),
        "attachments": list(submission.attachments.all()),
        "back_query": request.GET.urlencode(),
    }
    return render(request, "pools/demonstration.html", context)


def _recorded_at(value):
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _recorded_duration(demonstration: dict) -> str:
    started, ended = _recorded_at(demonstration.get("started_at")), _recorded_at(demonstration.get("ended_at"))
    if started is None or ended is None:
        return "–"
    return _clock((ended - started).total_seconds())


@creator_required
def factory_attachment_download(request, pk: int, submission_id: int, attachment_id: int):
    from .apis import attachment_file_response
    from .models import Attachment

    factory = _factory(request, pk, need="dataset")
    attachment = Attachment.objects.filter(
        pk=attachment_id, submission_id=submission_id, submission__factory=factory
    ).first()
    if attachment is None or attachment.uploaded_at is None:
        raise Http404("No such attachment.")
    return attachment_file_response(attachment)


@creator_required
@require_POST
def alert_dismiss(request, alert_id: int | None = None):
    """Mark one alert (or, without an id, every alert) as read, then back to the dashboard."""
    from .services.alerts import alert_mark_read

    alert_mark_read(user=request.user, alert_id=alert_id)
    if request.htmx:
        from django.http import HttpResponse

        return HttpResponse("")
    return redirect("pools:dashboard")
