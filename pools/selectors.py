"""Reads about factories and pools: configuration, pool summaries, what a farmer may see,
and the pools' cross-checks for the ledger audit."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from ledger.fields import AmountField

from .models import Claim, Deposit, EconomicsConfig, Factory, Submission


def economics_config() -> EconomicsConfig:
    config, _ = EconomicsConfig.objects.get_or_create(id=1)
    return config


@dataclass(frozen=True, slots=True)
class PoolSummary:
    deposited: int
    available: int
    reserved: int
    paid_out: int  # gross payouts: farmer rewards + platform fees
    refunded: int  # returned to the creator on close

    @property
    def spent(self) -> int:
        return self.paid_out

    def fraction(self, part: int) -> float:
        """For progress bars only (display), never for money."""
        total = self.available + self.reserved + self.paid_out + self.refunded
        return (part / total) if total else 0.0


def pool_summary(factory: Factory) -> PoolSummary:
    deposited = factory.deposits.filter(status=Deposit.Status.CONFIRMED).aggregate(
        total=Coalesce(Sum("amount"), 0, output_field=AmountField())
    )["total"]
    paid_out = factory.submissions.filter(status=Submission.Status.SETTLED).aggregate(
        total=Coalesce(Sum("gross_payout"), 0, output_field=AmountField())
    )["total"]
    return PoolSummary(
        deposited=int(deposited),
        available=factory.available_account.balance,
        reserved=factory.reserved_account.balance,
        paid_out=int(paid_out),
        refunded=factory.returned_to_creator,
    )


def factory_queryset():
    return Factory.objects.select_related("token", "available_account", "reserved_account", "creator")


def factories_open_to_farmers():
    """Active, able to pay at least one reward, and not full."""
    return (
        factory_queryset()
        .filter(status=Factory.Status.ACTIVE, available_account__balance__gte=F("reward"))
        .filter(Q(target_count__isnull=True) | Q(target_count__gt=F("accepted_count") + F("in_flight_count")))
    )


def factory_list_for_user(user):
    if user.is_staff:
        return factory_queryset()
    if user.role == "creator":
        return factory_queryset().filter(creator=user)
    return factories_open_to_farmers()


def factory_visible_to(user, factory: Factory) -> bool:
    """Owners and staff see their factory always; farmers see what is open, plus what they
    already worked on (so their submission pages stay reachable)."""
    if user.is_staff or factory.creator_id == user.pk:
        return True
    if user.role == "farmer":
        if factories_open_to_farmers().filter(pk=factory.pk).exists():
            return True
        return Claim.objects.filter(factory=factory, farmer=user).exists()
    return False


def submission_queryset():
    return Submission.objects.select_related("factory__token", "claim")


def submission_list_for_user(user):
    """Staff see every submission, a creator their factories', a farmer their own."""
    queryset = submission_queryset().order_by("-submitted_at", "-id")
    if user.is_staff:
        return queryset
    if user.role == "creator":
        return queryset.filter(factory__creator=user)
    return queryset.filter(farmer=user)


def audit_pools() -> list[str]:
    """Ledger audit cross-checks owned by pools (see settings.LEDGER_AUDIT_CHECKS)."""
    mismatches = []
    # Each pool's reserved balance equals the rewards of its claims still in flight.
    in_flight = Q(claims__status=Claim.Status.OPEN) | Q(
        claims__status=Claim.Status.SUBMITTED,
        claims__submission__status__in=[Submission.Status.SUBMITTED, Submission.Status.SCORING],
    )
    rows = (
        Factory.objects.annotate(
            held=Coalesce(Sum("claims__reward", filter=in_flight), 0, output_field=AmountField()),
            flying=Count("claims", filter=in_flight),
        )
        .exclude(reserved_account__balance=F("held"), in_flight_count=F("flying"))
        .values_list("id", "reserved_account__balance", "held", "in_flight_count", "flying")[:20]
    )
    for factory_id, reserved, held, counter, flying in rows:
        mismatches.append(
            f"factory {factory_id}: reserved {reserved} vs in-flight claims {held}; "
            f"in_flight_count {counter} vs {flying}"
        )
    # Every final submission has exactly its settlement transaction (unique key settle:<id>).
    unpaired = Submission.objects.filter(
        status__in=[Submission.Status.SETTLED, Submission.Status.REJECTED], settlement_transaction__isnull=True
    ).count()
    if unpaired:
        mismatches.append(f"{unpaired} settled submission(s) without a settlement transaction")
    return mismatches


# ---- Reads for the creator's pages (server-rendered) --------------------------------------
# Every function below runs a fixed number of queries, whatever the number of factories,
# submissions or claims: pages annotate and aggregate in the database instead of looping.

SLOW_FILL_HOURS = 14 * 24  # a target further away than this at the current pace is "slow"


def factory_list_for_creator(creator):
    """The creator's factories, newest first, each annotated with its confirmed deposits
    (`deposited_total`) and gross payouts (`paid_out_total`): one query for any number."""
    from django.db.models import OuterRef, Subquery

    deposited = (
        Deposit.objects.filter(factory=OuterRef("pk"), status=Deposit.Status.CONFIRMED)
        .values("factory")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    paid_out = (
        Submission.objects.filter(factory=OuterRef("pk"), status=Submission.Status.SETTLED)
        .values("factory")
        .annotate(total=Sum("gross_payout"))
        .values("total")
    )
    return (
        factory_queryset()
        .filter(creator=creator)
        .annotate(
            deposited_total=Coalesce(Subquery(deposited, output_field=AmountField()), 0, output_field=AmountField()),
            paid_out_total=Coalesce(Subquery(paid_out, output_field=AmountField()), 0, output_field=AmountField()),
        )
        .order_by("-created_at", "-id")
    )


def factory_for_creator(creator, pk: int) -> Factory | None:
    """One of the creator's own factories (None for anyone else's), with pool totals."""
    return factory_list_for_creator(creator).filter(pk=pk).first()


def pool_summary_annotated(factory: Factory) -> PoolSummary:
    """`pool_summary` for a factory from `factory_list_for_creator` (no extra query)."""
    return PoolSummary(
        deposited=int(factory.deposited_total),
        available=factory.available_account.balance,
        reserved=factory.reserved_account.balance,
        paid_out=int(factory.paid_out_total),
        refunded=factory.returned_to_creator,
    )


def factory_submissions_for_creator(factory: Factory):
    """The factory's submissions, newest first, without the (large) demonstration bodies."""
    return (
        Submission.objects.filter(factory=factory)
        .select_related("farmer")
        .only(
            "id",
            "status",
            "quality_score",
            "gross_payout",
            "farmer_reward",
            "submitted_at",
            "settled_at",
            "needs_review",
            "farmer",
            "farmer__username",
        )
        .order_by("-submitted_at", "-id")
    )


def factory_score_histogram(factory: Factory, *, bins: int = 10) -> list[int]:
    """How many final (settled or rejected) submissions scored in each of `bins` equal bins
    of [0, 1]: [0, 0.1), [0.1, 0.2), ... [0.9, 1] (a perfect score is in the last bin)."""
    from decimal import Decimal

    counts = {}
    for index in range(bins):
        in_bin = Q(quality_score__gte=Decimal(index) / bins)
        if index < bins - 1:
            in_bin &= Q(quality_score__lt=Decimal(index + 1) / bins)
        # Counting the score (never null here), not the id, lets PostgreSQL answer from the
        # covering index (factory, settled_at) INCLUDE (status, ..., quality_score) alone.
        counts[f"bin{index}"] = Count("quality_score", filter=in_bin)
    row = Submission.objects.filter(
        factory=factory,
        status__in=[Submission.Status.SETTLED, Submission.Status.REJECTED],
        quality_score__isnull=False,
    ).aggregate(**counts)
    return [row[f"bin{index}"] for index in range(bins)]


def factory_daily_spend(factory: Factory, *, days: int = 30, now=None) -> list[tuple]:
    """[(date, gross payout in base units)] for each day (UTC) from the later of the
    factory's creation and `days` ago, up to today, zeros included."""
    from datetime import datetime, time, timedelta

    from django.db.models.functions import TruncDate
    from django.utils import timezone

    now = now or timezone.now()
    today = now.astimezone(timezone.get_current_timezone()).date()
    first = max(today - timedelta(days=days - 1), factory.created_at.astimezone(timezone.get_current_timezone()).date())
    first = min(first, today)
    since = timezone.make_aware(datetime.combine(first, time.min))
    rows = (
        Submission.objects.filter(factory=factory, status=Submission.Status.SETTLED, settled_at__gte=since)
        .annotate(day=TruncDate("settled_at"))
        .values("day")
        .annotate(total=Sum("gross_payout"))
        .order_by("day")
    )
    totals = {row["day"]: int(row["total"] or 0) for row in rows}
    span = (today - first).days + 1
    return [(first + timedelta(days=offset), totals.get(first + timedelta(days=offset), 0)) for offset in range(span)]


@dataclass(frozen=True, slots=True)
class Participation:
    """How busy a factory is over the last 24 hours (the current hour included)."""

    since: object  # datetime: start of the window
    window_hours: float
    claims: int
    submissions: int
    accepted: int  # settled at or above the threshold within the window
    hourly: list  # [(hour start, claims, submissions)], 24 entries, oldest first
    fill_rate: float | None  # accepted_count / target_count; None for an open target
    hours_to_fill: float | None  # remaining slots / accepted per hour; None when unknown

    @property
    def claims_per_hour(self) -> float:
        return self.claims / self.window_hours

    @property
    def submissions_per_hour(self) -> float:
        return self.submissions / self.window_hours


def factory_participation(factory: Factory, *, now=None) -> Participation:
    """Claims and submissions per hour over the last 24 hours, the fill rate, and the time
    to fill the target at the pace of the last 24 hours (three queries)."""
    from datetime import timedelta

    from django.db.models.functions import TruncHour
    from django.utils import timezone

    now = now or timezone.now()
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    since = current_hour - timedelta(hours=23)
    window_hours = max((now - since).total_seconds() / 3600, 1.0)

    def per_hour(queryset, column):
        rows = (
            queryset.filter(**{f"{column}__gte": since})
            .annotate(hour=TruncHour(column))
            .values("hour")
            .annotate(n=Count("id"))
            .values_list("hour", "n")
        )
        return dict(rows)

    claims = per_hour(Claim.objects.filter(factory=factory), "created_at")
    submissions = per_hour(Submission.objects.filter(factory=factory), "submitted_at")
    accepted = Submission.objects.filter(
        factory=factory, status=Submission.Status.SETTLED, settled_at__gte=since
    ).count()
    hours = [since + timedelta(hours=offset) for offset in range(24)]
    hourly = [(hour, claims.get(hour, 0), submissions.get(hour, 0)) for hour in hours]

    fill_rate = hours_to_fill = None
    if factory.target_count:
        fill_rate = factory.accepted_count / factory.target_count
        remaining = max(factory.target_count - factory.accepted_count, 0)
        if remaining == 0:
            hours_to_fill = 0.0
        elif accepted:
            hours_to_fill = remaining / (accepted / window_hours)
    return Participation(
        since=since,
        window_hours=window_hours,
        claims=sum(claims.values()),
        submissions=sum(submissions.values()),
        accepted=accepted,
        hourly=hourly,
        fill_rate=fill_rate,
        hours_to_fill=hours_to_fill,
    )


@dataclass(frozen=True, slots=True)
class ParticipationHint:
    reason: str
    similar_median_reward: int | None  # base units of the factory's token
    similar_count: int


def factory_similar_reward_median(factory: Factory) -> tuple[int | None, int]:
    """The median reward (a real reward: the lower middle for an even count) of the other
    active factories in the same token and category, and how many there are."""
    from statistics import median_low

    rewards = list(
        Factory.objects.filter(status=Factory.Status.ACTIVE, token_id=factory.token_id, category=factory.category)
        .exclude(pk=factory.pk)
        .values_list("reward", flat=True)
    )
    if not rewards:
        return None, 0
    return int(median_low(int(reward) for reward in rewards)), len(rewards)


def factory_low_participation(factory: Factory, participation: Participation, *, available: int):
    """A `ParticipationHint` when an active factory that farmers can see draws too few people:
    no claim in the last 24 hours, or a target more than SLOW_FILL_HOURS away at the current
    pace. None otherwise (also when it cannot pay one reward: funding is the fix there)."""
    if factory.status != Factory.Status.ACTIVE or factory.is_full or available < factory.reward:
        return None
    if participation.claims == 0:
        reason = "No farmer claimed a task in the last 24 hours."
    elif participation.hours_to_fill is not None and participation.hours_to_fill > SLOW_FILL_HOURS:
        reason = f"At the pace of the last 24 hours the target is more than {SLOW_FILL_HOURS // 24} days away."
    else:
        return None
    median, count = factory_similar_reward_median(factory)
    return ParticipationHint(reason=reason, similar_median_reward=median, similar_count=count)


def factory_rate_history(factory: Factory):
    from .models import RateChange

    return RateChange.objects.filter(factory=factory).select_related("changed_by").order_by("-created_at", "-id")


def factory_deposits(factory: Factory):
    return Deposit.objects.filter(factory=factory).select_related("token").order_by("-created_at", "-id")


def tokens_enabled():
    from ledger.models import Token

    return Token.objects.filter(enabled=True).order_by("id")


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

    from .models import Attachment

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
    from .models import Attachment

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
    from .models import Export

    return Export.objects.filter(factory=factory).order_by("-created_at", "-id")[:limit]


def alerts_unread(user, *, limit: int = 10):
    from .models import Alert

    return (
        Alert.objects.filter(user=user, read_at__isnull=True)
        .select_related("factory")
        .order_by("-created_at", "-id")[:limit]
    )
