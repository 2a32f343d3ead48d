"""Reads about factories and pools: configuration, pool summaries, what a farmer may see,
and the pools' cross-checks for the ledger audit."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.storage import default_storage
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from PIL import Image

from core.money import parse_amount
from farmers.reputation import WorkRecord
from ledger.fields import AmountField
from ledger.models import Token

from .grading.base import MAX_KEYFRAME_BYTES, MAX_KEYFRAME_IMAGES, KeyframeImage
from .models import Bonus, Claim, Deposit, EconomicsConfig, Factory, FarmerListEntry, Submission


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
    paid_out += factory.bonuses.aggregate(total=Coalesce(Sum("amount"), 0, output_field=AmountField()))["total"]
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


def factories_admitting(factories, farmer):
    """`factories` without those the creators' lists keep from `farmer`: every factory of a
    creator who blocked them, and allow-list-only factories of creators who did not allow them
    (pools.models.FarmerListEntry). One subquery each, so browse pages stay one query."""
    entries = FarmerListEntry.objects.filter(farmer_id=farmer.pk)
    blocked_by = entries.filter(kind=FarmerListEntry.Kind.BLOCK).values("creator_id")
    allowed_by = entries.filter(kind=FarmerListEntry.Kind.ALLOW).values("creator_id")
    return factories.exclude(creator_id__in=blocked_by).exclude(Q(allow_list_only=True) & ~Q(creator_id__in=allowed_by))


def farmer_refusal(farmer, factory: Factory) -> str | None:
    """Why the creator's lists keep `farmer` from `factory` ("blocked", "not_allowed"), or None.
    The same rule as `factories_admitting`, for one factory (claim_create asks it under the lock)."""
    kind = (
        FarmerListEntry.objects.filter(creator_id=factory.creator_id, farmer_id=farmer.pk)
        .values_list("kind", flat=True)
        .first()
    )
    if kind == FarmerListEntry.Kind.BLOCK:
        return "blocked"
    if factory.allow_list_only and kind != FarmerListEntry.Kind.ALLOW:
        return "not_allowed"
    return None


def farmer_qualified(farmer, factory: Factory) -> bool:
    """Whether `farmer` meets the factory's qualification task: an accepted (settled)
    demonstration on `factory.qualification_factory`; True when it needs none."""
    if factory.qualification_factory_id is None:
        return True
    return Submission.objects.filter(
        factory_id=factory.qualification_factory_id, farmer_id=farmer.pk, status=Submission.Status.SETTLED
    ).exists()


def farmer_list_of(creator):
    """The creator's allow and block list entries, with the farmers' names."""
    return (
        FarmerListEntry.objects.filter(creator_id=creator.pk)
        .select_related("farmer")
        .order_by("kind", "-created_at", "-id")
    )


def qualification_choices(creator, *, exclude: int | None = None) -> list[tuple[int, str]]:
    """The creator's factories that may serve as a qualification task, as form choices."""
    factories = Factory.objects.filter(creator_id=creator.pk).exclude(pk=exclude).order_by("title", "pk")
    return [(pk, title) for pk, title in factories.values_list("pk", "title")]


def factory_list_for_user(user):
    if user.is_staff:
        return factory_queryset()
    if user.role == "creator":
        return factory_queryset().filter(creator=user)
    return factories_admitting(factories_open_to_farmers(), user)


def factory_visible_to(user, factory: Factory) -> bool:
    """Owners and staff see their factory always; farmers see what is open to them (not kept
    from them by the creator's lists), plus what they already worked on (so their submission
    pages stay reachable)."""
    if user.is_staff or factory.creator_id == user.pk:
        return True
    if user.role == "farmer":
        if farmer_refusal(user, factory) is None and factories_open_to_farmers().filter(pk=factory.pk).exists():
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
# The low-participation hint waits this long after a factory is open and funded (the later of
# its creation and its first deposit): the hint measures the last 24 hours, so before that
# "no claim in 24 hours" would only mean "just published".
PARTICIPATION_GRACE_HOURS = 24


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
    # Bonuses leave the pool too (pools.models.Bonus): counted as paid out, so the parts of the
    # pool still add up to what was deposited.
    bonuses = (
        Bonus.objects.filter(factory=OuterRef("pk")).values("factory").annotate(total=Sum("amount")).values("total")
    )
    return (
        factory_queryset()
        .filter(creator=creator)
        .annotate(
            deposited_total=Coalesce(Subquery(deposited, output_field=AmountField()), 0, output_field=AmountField()),
            paid_out_total=Coalesce(Subquery(paid_out, output_field=AmountField()), 0, output_field=AmountField())
            + Coalesce(Subquery(bonuses, output_field=AmountField()), 0, output_field=AmountField()),
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
    pace. None otherwise: when it cannot pay one reward (funding is the fix there), and during
    the first PARTICIPATION_GRACE_HOURS after it is open and funded (too early to judge)."""
    if factory.status != Factory.Status.ACTIVE or factory.is_full or available < factory.reward:
        return None
    first_deposit = Deposit.objects.filter(factory=factory).order_by("created_at").values_list("created_at", flat=True)
    funded_at = first_deposit.first()
    if funded_at is None:
        return None
    open_since = max(factory.created_at, funded_at)
    if timezone.now() - open_since < timedelta(hours=PARTICIPATION_GRACE_HOURS):
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


# ---- The commission rollup's source of truth (referrals.CommissionDay) --------------------


def commission_rollup_expected() -> dict[tuple, tuple[int, int]]:
    """{(user id, day, token id): (farmer side, factory side)} recomputed from the settled
    submissions, the way the rollup should hold them (zero sums left out): two grouped
    queries over every commissioned settlement, for audits and tests, not for pages (the
    referrals rollup's source of truth; referrals.selectors.commission_rollup_expected)."""
    found: dict[tuple, list[int]] = {}
    for side, (who, amount) in enumerate(
        (
            ("farmer_ambassador_id", "farmer_ambassador_commission"),
            ("factory_ambassador_id", "factory_ambassador_commission"),
        )
    ):
        grouped = (
            Submission.objects.filter(**{f"{who}__isnull": False}, settled_at__isnull=False)
            .annotate(day=TruncDate("settled_at"))
            .values(who, "day", "factory__token_id")
            .annotate(total=Sum(amount))
            .order_by()
            .values_list(who, "day", "factory__token_id", "total")
        )
        for user_id, day, token_id, total in grouped:
            found.setdefault((user_id, day, token_id), [0, 0])[side] += int(total or 0)
    return {key: (farmer, factory) for key, (farmer, factory) in found.items() if farmer or factory}


# ---- A farmer's settled work, as farmers.reputation sees it ----------------------------------

# The quality threshold assumed when a settlement's terms do not record one.
WORK_DEFAULT_THRESHOLD = "0.5"


def _reputation_minimum_rewards() -> dict[str, int]:
    """{token symbol: base units}: work paying less per demonstration counts for nothing."""
    minimums = settings.FORGE_REPUTATION_MIN_REWARD
    return {
        token.symbol: parse_amount(minimums[token.symbol], decimals=token.decimals, allow_zero=True)
        for token in Token.objects.filter(symbol__in=minimums)
    }


def _creators_linked_to(farmer_id: int) -> set[int]:
    """Creators who are, by what we can see, the farmer under another account: linked accounts
    (accounts.selectors.users_linked: the same wallet, network and browser, money between
    them, a factory funded by the other; docs/security.md), or a direct referral either way."""
    from accounts.selectors import users_linked
    from referrals.selectors import users_referral_linked_to

    return set(users_linked([farmer_id])[farmer_id]) | users_referral_linked_to(farmer_id)


def farmer_work_records(farmer_id: int, *, limit: int) -> list[tuple[int, str, WorkRecord]]:
    """(submission id, status, record) for the farmer's newest `limit` settled submissions
    that count, newest first: the inputs of farmers.reputation (farmers.services reads them
    through settings.FARMERS_WORK_RECORDS). Negligible-value work and work for a linked
    creator (self-dealing) count for nothing: left out, as if never done (docs/reputation.md)."""
    negligible = Q(pk__in=[])
    for symbol, units in _reputation_minimum_rewards().items():
        negligible |= Q(factory__token__symbol=symbol, claim__reward__lt=units)
    rows = (
        Submission.objects.filter(
            farmer_id=farmer_id, status__in=[Submission.Status.SETTLED, Submission.Status.REJECTED]
        )
        .exclude(negligible)
        .exclude(factory__creator_id__in=_creators_linked_to(farmer_id))
        .order_by("-settled_at", "-id")
        .values_list(
            "id",
            "status",
            "quality_score",
            "settlement_terms",
            "settled_at",
            "submitted_at",
            "claim__created_at",
            "factory__expected_minutes",
            "factory__creator_id",
        )[:limit]
    )
    return [
        (
            submission_id,
            status,
            WorkRecord(
                quality_score=score,
                threshold=Decimal((terms or {}).get("quality_threshold", WORK_DEFAULT_THRESHOLD)),
                settled_at=settled_at,
                minutes_taken=(submitted_at - claimed_at).total_seconds() / 60,
                expected_minutes=expected,
                creator_id=creator_id,
            ),
        )
        for submission_id, status, score, terms, settled_at, submitted_at, claimed_at, expected, creator_id in rows
    ]


def factories_fundable_by(creator):
    """The creator's factories that can still take money (not closed), newest first."""
    return (
        Factory.objects.filter(creator=creator)
        .exclude(status=Factory.Status.CLOSED)
        .select_related("token")
        .order_by("-created_at", "-id")
    )


# Stored keyframe thumbnails live under this prefix (evidence.models.keyframe_upload_to).
KEYFRAME_PREFIX = "evidence/"


def evidence_keyframes_read(evidence: dict | None) -> tuple[KeyframeImage, ...]:
    """The keyframes the model judge is shown for a submission (FORGE_GRADER=judge): the
    thumbnails the evidence app named in the section (`judge_keyframes`: `{t, purpose, name}`,
    stored in default storage), read as bytes. A name outside the evidence prefix, a missing or
    unreadable file, one larger than MAX_KEYFRAME_BYTES or one that is not a JPEG is skipped:
    the judge then sees fewer frames, never an error. At most MAX_KEYFRAME_IMAGES, in order."""
    refs = (evidence or {}).get("judge_keyframes") if isinstance(evidence, dict) else None
    if not isinstance(refs, list):
        return ()
    images = []
    for ref in refs[:MAX_KEYFRAME_IMAGES]:
        if not isinstance(ref, dict):
            continue
        name = ref.get("name")
        if not isinstance(name, str) or not name.startswith(KEYFRAME_PREFIX) or ".." in name:
            continue
        try:
            if default_storage.size(name) > MAX_KEYFRAME_BYTES:
                continue
            with default_storage.open(name, "rb") as stored:
                data = stored.read(MAX_KEYFRAME_BYTES + 1)
        except (OSError, ValueError, SuspiciousOperation):  # gone from storage, or a name it refuses
            continue
        image = KeyframeImage(t=str(ref.get("t", ""))[:20], purpose=str(ref.get("purpose", ""))[:40], jpeg=data)
        if image.is_usable() and _decodes(data):
            images.append(image)
    return tuple(images)


def _decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.verify()
            return picture.format == "JPEG"
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return False
