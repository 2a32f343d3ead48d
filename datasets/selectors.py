"""Reads for datasets: the filters, the dataset of a factory (lists, exports, one
demonstration), farmer pseudonyms, a user's exports and unread alerts (docs/datasets.md)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.db.models.functions import Coalesce

from pools.models import Attachment, Factory, Submission

from .models import Alert, Export

# ---- Datasets: what a factory's creator takes home (docs/datasets.md) -----------------------
# The dataset is the factory's accepted demonstrations: settled at or above the quality
# threshold (status "settled") and never flagged. Rejected work (settled below the threshold)
# and flagged work (held for review, or released by a review after a flag) are visible to the
# creator but enter a list or an export only when asked for explicitly (`include`).

DATASET_INCLUDE_CHOICES = ("rejected", "flagged")


@dataclass(frozen=True, slots=True)
class DatasetFilters:
    min_quality: object = None  # Decimal in [0, 1]
    max_quality: object = None
    submitted_from: object = None  # aware datetime, inclusive
    submitted_to: object = None  # aware datetime, exclusive (a date means up to its end)
    min_reputation: object = None  # Decimal in [0, 100], the farmer's current reputation
    max_reputation: object = None
    flagged: bool | None = None  # None: both (when flagged work is included at all)
    include: frozenset = frozenset()

    def as_params(self) -> dict:
        """The filters as query-string values (what `dataset_filters_parse` reads back)."""
        params = {}
        for name in ("min_quality", "max_quality", "min_reputation", "max_reputation"):
            value = getattr(self, name)
            if value is not None:
                params[name] = f"{value:f}"
        for name in ("submitted_from", "submitted_to"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value.isoformat()
        if self.flagged is not None:
            params["flagged"] = "true" if self.flagged else "false"
        if self.include:
            params["include"] = ",".join(sorted(self.include))
        return params


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def dataset_filters_parse(params) -> DatasetFilters:
    """Read dataset filters from a query string (QueryDict or dict of strings).

    Raises Django's ValidationError with the bad fields ({"min_quality": [...]}): a filter
    that cannot be read is refused, never ignored (an export must contain what was asked).
    """
    from datetime import UTC, datetime, time, timedelta
    from decimal import Decimal, InvalidOperation

    from django.core.exceptions import ValidationError
    from django.utils import timezone

    def get(name):
        value = params.get(name)
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    errors: dict[str, list[str]] = {}

    def decimal(name, low, high):
        raw = get(name)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or not low <= value <= high:
            errors[name] = [f"Must be a decimal number between {low} and {high}, e.g. “0.8”."]
            return None
        return value

    def moment(name, *, end):
        raw = get(name)
        if raw is None:
            return None
        try:
            parsed = datetime.fromisoformat(raw)
            if len(raw) <= 10:  # a date: the whole day, in the site's time zone
                start = timezone.make_aware(datetime.combine(parsed.date(), time.min))
                return start + timedelta(days=1) if end else start
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed)
            parsed.astimezone(UTC)  # years 1 and 9999 with an offset overflow here, not later in SQL
            return parsed
        except (ValueError, OverflowError):
            errors[name] = ["Must be a date (2026-01-31) or an ISO 8601 date-time."]
            return None

    min_quality = decimal("min_quality", Decimal(0), Decimal(1))
    max_quality = decimal("max_quality", Decimal(0), Decimal(1))
    min_reputation = decimal("min_reputation", Decimal(0), Decimal(100))
    max_reputation = decimal("max_reputation", Decimal(0), Decimal(100))
    submitted_from = moment("submitted_from", end=False)
    submitted_to = moment("submitted_to", end=True)
    if min_quality is not None and max_quality is not None and min_quality > max_quality:
        errors["max_quality"] = ["Must not be below min_quality."]
    if min_reputation is not None and max_reputation is not None and min_reputation > max_reputation:
        errors["max_reputation"] = ["Must not be below min_reputation."]
    if submitted_from is not None and submitted_to is not None and submitted_from >= submitted_to:
        errors["submitted_to"] = ["Must be after submitted_from."]

    include: set[str] = set()
    raw_include = params.getlist("include") if hasattr(params, "getlist") else [params.get("include") or ""]
    for item in raw_include:
        for part in str(item or "").split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in DATASET_INCLUDE_CHOICES:
                errors["include"] = [f"Unknown value {part[:40]!r}; use {' or '.join(DATASET_INCLUDE_CHOICES)}."]
            include.add(part)

    flagged = None
    raw_flagged = get("flagged")
    if raw_flagged is not None:
        if raw_flagged.lower() in _TRUE:
            flagged = True
        elif raw_flagged.lower() in _FALSE:
            flagged = False
        else:
            errors["flagged"] = ["Must be true or false."]
    if flagged is True and "flagged" not in include:
        errors["flagged"] = ["Flagged work is not part of the dataset; add include=flagged to see it."]

    if errors:
        raise ValidationError(errors)
    return DatasetFilters(
        min_quality=min_quality,
        max_quality=max_quality,
        submitted_from=submitted_from,
        submitted_to=submitted_to,
        min_reputation=min_reputation,
        max_reputation=max_reputation,
        flagged=flagged,
        include=frozenset(include) & frozenset(DATASET_INCLUDE_CHOICES),
    )


def _flagged_q() -> Q:
    return Q(needs_review=True) | ~Q(review_reasons=[])


def _with_dataset_annotations(queryset):
    """Add `farmer_reputation` (the farmer's current reputation; a newcomer without a stored
    profile counts as the newcomer's) and `is_flagged`."""
    from django.db.models import BooleanField, DecimalField, ExpressionWrapper, Value

    from farmers.reputation import NEWCOMER_REPUTATION

    return queryset.annotate(
        farmer_reputation=Coalesce(
            "farmer__farmer_profile__reputation",
            Value(NEWCOMER_REPUTATION),
            output_field=DecimalField(max_digits=5, decimal_places=2),
        ),
        is_flagged=ExpressionWrapper(_flagged_q(), output_field=BooleanField()),
    )


def _attachments_prefetch():
    from django.db.models import Prefetch

    return Prefetch("attachments", queryset=Attachment.objects.order_by("id"))


def dataset_queryset(factory: Factory, filters: DatasetFilters | None = None):
    """The factory's dataset as an unordered Submission queryset, narrowed by `filters` and
    annotated with `farmer_reputation` and `is_flagged`."""
    filters = filters or DatasetFilters()
    statuses = Q(status=Submission.Status.SETTLED)
    if "rejected" in filters.include:
        statuses |= Q(status=Submission.Status.REJECTED)
    if "flagged" in filters.include:
        # Held for staff review: not settled yet, but flagged work the creator asked to see.
        statuses |= Q(status__in=[Submission.Status.SUBMITTED, Submission.Status.SCORING], needs_review=True)
    queryset = Submission.objects.filter(statuses, factory=factory)
    if "flagged" not in filters.include or filters.flagged is False:
        queryset = queryset.exclude(_flagged_q())
    elif filters.flagged is True:
        queryset = queryset.filter(_flagged_q())
    if filters.min_quality is not None:
        queryset = queryset.filter(quality_score__gte=filters.min_quality)
    if filters.max_quality is not None:
        queryset = queryset.filter(quality_score__lte=filters.max_quality)
    if filters.submitted_from is not None:
        queryset = queryset.filter(submitted_at__gte=filters.submitted_from)
    if filters.submitted_to is not None:
        queryset = queryset.filter(submitted_at__lt=filters.submitted_to)
    queryset = _with_dataset_annotations(queryset)
    if filters.min_reputation is not None:
        queryset = queryset.filter(farmer_reputation__gte=filters.min_reputation)
    if filters.max_reputation is not None:
        queryset = queryset.filter(farmer_reputation__lte=filters.max_reputation)
    return queryset


def dataset_page_queryset(factory: Factory, filters: DatasetFilters | None = None):
    """The dataset for lists (API and page), newest first, attachments prefetched."""
    return dataset_queryset(factory, filters).prefetch_related(_attachments_prefetch()).order_by("-submitted_at", "-id")


def dataset_export_queryset(factory: Factory, filters: DatasetFilters | None = None):
    """The dataset for an export, oldest first (a stable order), to iterate with
    `.iterator(chunk_size=...)` and `dataset_attachments_by_submission` per chunk.

    No prefetch_related: a prefetched reverse relation ties each row to its cache in a
    reference cycle, which only the cyclic garbage collector frees, so memory would grow chunk
    after chunk until it runs. The demonstration comes as the database's JSON text
    (`demonstration_json`), not decoded: the export copies it into the line as it is."""
    from django.db.models import TextField
    from django.db.models.functions import Cast

    return (
        dataset_queryset(factory, filters)
        .defer("demonstration")
        .annotate(demonstration_json=Cast("demonstration", output_field=TextField()))
        .order_by("submitted_at", "id")
    )


def dataset_attachments_by_submission(submission_ids) -> dict[int, list]:
    """{submission id: [its attachments, oldest first]} for a chunk of submissions (one query)."""
    found: dict[int, list] = {}
    for attachment in Attachment.objects.filter(submission_id__in=list(submission_ids)).order_by("submission_id", "id"):
        found.setdefault(attachment.submission_id, []).append(attachment)
    return found


def dataset_submission(factory: Factory, submission_id: int) -> Submission | None:
    """One of the factory's submissions for the preview, in the dataset or not (the creator
    may look at rejected, flagged and still unscored work)."""
    queryset = Submission.objects.filter(pk=submission_id, factory=factory)
    return _with_dataset_annotations(queryset).prefetch_related(_attachments_prefetch()).first()


def submission_in_dataset(submission: Submission) -> bool:
    """Whether the submission is part of the dataset by default (accepted and unflagged)."""
    return submission.status == Submission.Status.SETTLED and not (submission.needs_review or submission.review_reasons)


def farmer_pseudonym(factory_id: int, farmer_id: int) -> str:
    """The farmer's name in a factory's dataset: "farmer-" and 12 hex digits of an HMAC of
    the factory and farmer ids. Stable for one factory, unrelated across factories (two
    creators cannot join their datasets on it), and never derived from the username.
    The key is FORGE_PSEUDONYM_SECRET, or SECRET_KEY when that is empty."""
    from django.conf import settings
    from django.utils.crypto import salted_hmac

    secret = getattr(settings, "FORGE_PSEUDONYM_SECRET", "") or settings.SECRET_KEY
    digest = salted_hmac(
        "forge.datasets.farmer-pseudonym", f"{factory_id}:{farmer_id}", secret=secret, algorithm="sha256"
    ).hexdigest()
    return f"farmer-{digest[:12]}"


def exports_of_factory(factory: Factory, *, limit: int = 10):
    return Export.objects.filter(factory=factory).order_by("-created_at", "-id")[:limit]


def alerts_unread(user, *, limit: int = 10):
    return (
        Alert.objects.filter(user=user, read_at__isnull=True)
        .select_related("factory")
        .order_by("-created_at", "-id")[:limit]
    )
