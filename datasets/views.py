"""The creator's dataset pages: browse and preview the dataset, one demonstration, exports,
attachments, and dismissing alerts (docs/datasets.md). Same rules as the creator's other
pages (pools.views): the signed-in creator's own factory, anyone else's is a 404."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.exceptions import ApplicationError
from core.pages import show_service_error
from pools.grading.evidence import evidence_rows
from pools.selectors import economics_config
from pools.views import _factory, _page, creator_required

from .access import access_export

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


def _readable(value) -> str:
    """A recorded value for people: text as is, numbers and booleans as JSON writes them, and
    objects or lists as compact JSON (never Python's repr: `{'a': 1}`, `True`, `None`)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


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
                "extra": {key: _readable(value) for key, value in step.items() if key not in known},
            }
        )
    return rows


def other_reasons(reasons, breakdown_rows: list[dict]) -> list[str]:
    """The score's reasons not already shown beside a part of the breakdown (each reason once)."""
    shown = {reason for row in breakdown_rows for reason in row["reasons"]}
    seen: set[str] = set()
    rest = []
    for reason in (str(reason) for reason in reasons or []):
        if reason not in shown and reason not in seen:
            seen.add(reason)
            rest.append(reason)
    return rest


EVIDENCE_KEYS = ("evidence", "evidence_rule")


def score_breakdown_rows(breakdown) -> list[dict]:
    """The score breakdown as table rows: each part's score, weight and reasons."""
    rows = []
    for name, part in (breakdown or {}).items():
        if name in EVIDENCE_KEYS:
            continue  # shown as its own table, with keyframes (templates/evidence/checks.html)
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
    breakdown = score_breakdown_rows(submission.score_breakdown)
    context = {
        "factory": factory,
        "submission": submission,
        "demonstration": demonstration,
        "pseudonym": farmer_pseudonym(factory.pk, submission.farmer_id),
        "in_dataset": submission_in_dataset(submission),
        "timeline": demonstration_timeline(demonstration),
        "started_at": _recorded_at(demonstration.get("started_at")),
        "duration": _recorded_duration(demonstration),
        "breakdown": breakdown,
        "evidence_checks": evidence_rows((submission.score_breakdown or {}).get("evidence") or submission.evidence),
        "other_reasons": other_reasons(submission.score_reasons, breakdown),
        "task": {name: _readable(value) for name, value in (demonstration.get("task") or {}).items()}
        if isinstance(demonstration.get("task"), dict)
        else {},
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
    from pools.apis import attachment_file_response
    from pools.models import Attachment

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
