"""Reads for a farmer's pages: the factories a farmer can browse, their claims, submissions and
settled earnings (pools rows seen from the farmer's side; reputation itself is
farmers.selectors, withdrawals accounts.selectors).

Every read that takes a `farmer` returns only that farmer's rows: pages look objects up
through these, so another farmer's claim or submission is simply not found (404).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, ExpressionWrapper, F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from ledger.fields import AmountField
from ledger.models import Token

from .grading import checks
from .models import Claim, Factory, Submission
from .selectors import factories_open_to_farmers

RATE_PLACES = Decimal("0.001")  # acceptance rates to a tenth of a percent
FINAL_STATUSES = [Submission.Status.SETTLED, Submission.Status.REJECTED]


# ---- Browsing -------------------------------------------------------------------------------

BROWSE_SORTS = {"newest": "Newest", "reward": "Highest reward", "slots": "Most slots left"}
BROWSE_ACCESS = {"all": "All factories", "unlocked": "Unlocked for me", "premium": "Premium only"}


@dataclass(frozen=True, slots=True)
class BrowseRow:
    """One factory on the browse page, with what the farmer needs to decide."""

    factory: Factory
    finished_count: int  # settled + rejected submissions
    acceptance_rate: Decimal | None  # accepted / finished; None before any finished work
    slots_left: int | None  # None: open-ended
    locked: bool
    missing_points: Decimal  # reputation still needed to unlock (0 when unlocked)


def browse_categories() -> list[str]:
    """The categories of factories open to farmers now, for the filter."""
    return list(
        factories_open_to_farmers()
        .exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )


def factories_for_browse(
    *,
    reputation: Decimal,
    token: Token | None = None,
    min_reward: int | None = None,
    category: str = "",
    access: str = "all",
    sort: str = "newest",
) -> QuerySet[Factory]:
    """Factories open to farmers (active, funded for one reward, not full), filtered and
    sorted, annotated with `finished_count` and `slots_left_now` in the same query.

    `min_reward` is in base units of `token` and needs it (rewards in different tokens are
    not comparable); sorting by reward without a token groups by token, highest first.
    Premium factories (a minimum reputation) are included unless `access` is "unlocked".
    """
    finished = (
        Submission.objects.filter(factory=OuterRef("pk"), status__in=FINAL_STATUSES)
        .order_by()
        .values("factory")
        .annotate(total=Count("pk"))
        .values("total")
    )
    factories = (
        factories_open_to_farmers()
        .defer("instructions", "description")
        .annotate(
            finished_count=Coalesce(Subquery(finished, output_field=IntegerField()), Value(0)),
            slots_left_now=ExpressionWrapper(
                F("target_count") - F("accepted_count") - F("in_flight_count"), output_field=IntegerField()
            ),
        )
    )
    if token is not None:
        factories = factories.filter(token=token)
        if min_reward is not None:
            factories = factories.filter(reward__gte=min_reward)
    if category:
        factories = factories.filter(category=category)
    if access == "unlocked":
        factories = factories.filter(min_reputation__lte=reputation)
    elif access == "premium":
        factories = factories.filter(min_reputation__gt=0)

    if sort == "reward":
        order = ["-reward", "-created_at", "-id"] if token is not None else ["token__symbol", "-reward", "-id"]
    elif sort == "slots":
        order = [F("slots_left_now").desc(nulls_first=True), "-created_at", "-id"]
    else:
        order = ["-created_at", "-id"]
    return factories.order_by(*order)


def browse_rows(factories, *, reputation: Decimal) -> list[BrowseRow]:
    """Rows for one page of `factories_for_browse` (no further queries)."""
    rows = []
    for factory in factories:
        finished = factory.finished_count
        missing = max(factory.min_reputation - reputation, Decimal(0))
        rows.append(
            BrowseRow(
                factory=factory,
                finished_count=finished,
                acceptance_rate=(Decimal(factory.accepted_count) / finished).quantize(RATE_PLACES)
                if finished
                else None,
                slots_left=factory.slots_left,
                locked=missing > 0,
                missing_points=missing,
            )
        )
    return rows


def factory_for_farmer(*, factory_id: int) -> Factory | None:
    """A factory a farmer may claim from (open to farmers), or None."""
    return factories_open_to_farmers().filter(pk=factory_id).first()


@dataclass(frozen=True, slots=True)
class PayPreview:
    """What one claim of a factory pays, before claiming: the same formula as settlement
    (pools.economics.settlement_shares) at a perfect score and at the threshold."""

    reward: int
    fee_rate: Decimal
    threshold: Decimal
    net_at_best: int  # quality 100%: reward - fee
    net_at_threshold: int  # the lowest score that pays


def pay_preview(factory: Factory) -> PayPreview:
    from .economics import settlement_shares
    from .selectors import economics_config

    config = economics_config()

    def net(quality: Decimal) -> int:
        return settlement_shares(
            reward=factory.reward,
            quality_score=quality,
            quality_threshold=config.quality_threshold,
            platform_fee_rate=config.platform_fee_rate,
        ).farmer

    return PayPreview(
        reward=factory.reward,
        fee_rate=config.platform_fee_rate,
        threshold=config.quality_threshold,
        net_at_best=net(Decimal(1)),
        net_at_threshold=net(config.quality_threshold),
    )


# ---- Holds ------------------------------------------------------------------------------------

GRADER_FAILED_PREFIX = "The grader failed"


@dataclass(frozen=True, slots=True)
class HoldNotice:
    """Why a submission waits for a person, in the farmer's words, and how long that takes."""

    reasons: list[str]
    review_hours: int


def hold_notice(submission: Submission) -> HoldNotice | None:
    """None unless the submission is held for review. The grader's own error text is staff's
    business: the farmer reads that scoring failed and a person will score it."""
    from django.conf import settings

    if not submission.needs_review or submission.is_final:
        return None
    reasons = []
    for reason in submission.review_reasons or []:
        text = str(reason)
        if text.startswith(GRADER_FAILED_PREFIX):
            text = "The automatic scoring failed several times; a reviewer will score it by hand."
        if text not in reasons:
            reasons.append(text)
    if not reasons:
        reasons.append("A reviewer checks it before payment.")
    return HoldNotice(reasons=reasons, review_hours=settings.FORGE_REVIEW_EXPECTED_HOURS)


# ---- The farmer's own work ----------------------------------------------------------------


def claims_of(farmer) -> QuerySet[Claim]:
    return Claim.objects.filter(farmer=farmer).select_related("factory__token", "submission").order_by("-created_at")


def open_claims_count(farmer) -> int:
    return Claim.objects.filter(farmer=farmer, status=Claim.Status.OPEN).count()


# ---- Earnings --------------------------------------------------------------------------------


def settled_submissions_of(farmer) -> QuerySet[Submission]:
    """The farmer's settled work (paid or rejected), newest first, with the breakdown; without
    the demonstration bodies and the factory's long texts (a page of rows needs neither)."""
    return (
        Submission.objects.filter(farmer=farmer, status__in=FINAL_STATUSES)
        .select_related("factory__token")
        .defer(
            "demonstration",
            "score_breakdown",
            "score_reasons",
            "review_reasons",
            "factory__instructions",
            "factory__description",
        )
        .order_by("-settled_at", "-id")
    )


def earnings_totals(farmer) -> list[dict]:
    """[{token, gross, fee, net, count}] of the farmer's paid work, per token."""
    rows = list(
        Submission.objects.filter(farmer=farmer, status=Submission.Status.SETTLED)
        .values("factory__token")
        .annotate(
            gross=Coalesce(Sum("gross_payout"), Value(0), output_field=AmountField()),
            fee=Coalesce(Sum("platform_fee"), Value(0), output_field=AmountField()),
            net=Coalesce(Sum("farmer_reward"), Value(0), output_field=AmountField()),
            count=Count("pk"),
        )
        .order_by("factory__token")
    )
    tokens = Token.objects.in_bulk([row["factory__token"] for row in rows])
    return [
        {
            "token": tokens[row["factory__token"]],
            "gross": int(row["gross"]),
            "fee": int(row["fee"]),
            "net": int(row["net"]),
            "count": row["count"],
        }
        for row in rows
    ]


# ---- Success checks, in the farmer's words ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckLine:
    """One success check as a readable line: before claiming (what the agent will verify) and
    on the submission page (whether it was met, and the wrong value when one was typed)."""

    text: str
    required: bool
    passed: bool | None = None  # None: not graded yet (the preview)
    detail: str = ""


def check_sentence(kind: str, value: str = "", values: tuple[str, ...] | list[str] = ()) -> str:
    """What a check asks, as a sentence a farmer reads ("“Q2 Sales” is typed or entered.")."""
    sentences = {
        checks.SHOWS: f"The result shows “{value}”.",
        checks.NOT_SHOWS: f"“{value}” appears nowhere in the result.",
        checks.TYPED: f"“{value}” is typed or entered.",
        checks.ACTED_ON: f"A step clicks or acts on “{value}”.",
        checks.VISITED: f"The recording visits {value}.",
        checks.APP: f"The work is done in {value}.",
        checks.SUBMITTED: f"The work ends by pressing “{value}” (or the form's button or key).",
    }
    if kind == checks.MILESTONES:
        return "The steps reach, in this order: " + " → ".join(f"“{item}”" for item in values) + "."
    return sentences.get(kind, f"{kind}: {value}")


def factory_check_lines(factory: Factory) -> list[CheckLine]:
    """The checks a claim made now would be graded against: the factory's own success checks,
    or the ones the agent proposes from the instructions (as `claims.claim_terms` freezes)."""
    try:
        found = (
            checks.checks_from_json(factory.success_checks)
            if factory.success_checks
            else checks.checks_propose(factory.title, factory.instructions)
        )
    except checks.ChecksInvalid:  # refused on save; an old row is graded by proposed checks
        found = checks.checks_propose(factory.title, factory.instructions)
    return [CheckLine(check_sentence(check.kind, check.value, check.values), check.required) for check in found]


def claim_check_lines(claim: Claim) -> list[CheckLine]:
    """The checks frozen on the claim (what this farmer's work is graded against)."""
    stored = (claim.terms or {}).get("checks")
    if not stored:
        return factory_check_lines(claim.factory)
    try:
        found = checks.checks_from_json(stored)
    except checks.ChecksInvalid:
        return []
    return [CheckLine(check_sentence(check.kind, check.value, check.values), check.required) for check in found]


def submission_check_lines(submission: Submission) -> list[CheckLine]:
    """Each graded check of the submission with whether it was met, failed ones first; empty
    when the grader recorded none (a reviewer's score, an outside grader)."""
    outcome = (submission.score_breakdown or {}).get("outcome")
    graded = outcome.get("checks") if isinstance(outcome, dict) else None
    if not isinstance(graded, list):
        return []
    lines = []
    for entry in graded:
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            continue
        kind, label = entry["kind"], str(entry.get("check", ""))
        value = label.removeprefix(f"{kind}: ")
        values = tuple(value.split(" -> ")) if kind == checks.MILESTONES else ()
        near = entry.get("near_miss")
        passed = entry.get("passed") is True
        detail = ""
        if not passed:
            detail = f"“{near}” was typed instead." if near else "Not found in your recording."
        lines.append(CheckLine(check_sentence(kind, value, values), entry.get("required") is True, passed, detail))
    return sorted(lines, key=lambda line: line.passed)  # stable: failed first, in check order
