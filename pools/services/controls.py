"""A creator's controls: who works for them (the allow and block lists,
pools.models.FarmerListEntry; the rules they feed live in pools.selectors
`factories_admitting` / `farmer_refusal` and are enforced in claim_create), flags on paid
demonstrations that missed the task (decided by staff), and bonuses for excellent ones."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.models import StaffAction
from audit.services import staff_action_record
from core.db import atomic_with_retry
from core.exceptions import Conflict, Forbidden, NotFound
from core.money import mul_floor, parse_amount
from ledger.models import Account
from ledger.services import InsufficientFunds, Leg, account_get, transaction_post, treasury_account
from notifications.models import Kind
from notifications.services import notify

from ..locks import factory_lock, flag_lock, submission_lock
from ..models import Bonus, FarmerListEntry, Flag, Submission
from ..selectors import economics_config
from .submissions import submission_review

REASON_MAX = 2000

NOTE_MAX = 200


def _require_creator(user) -> None:
    if getattr(user, "role", None) != "creator":
        raise Forbidden("Only factory creators keep allow and block lists.")


@transaction.atomic
def farmer_list_set(*, creator, username: str, kind: str, note: str = "") -> FarmerListEntry:
    """Put the farmer `username` on the creator's allow or block list (moving them from the
    other list if there). Blocking does not touch claims already made: an open claim may still
    be submitted and is paid by the usual rules; new claims are refused."""
    _require_creator(creator)
    errors = {}
    for name, text in (("username", username), ("note", note)):
        if "\x00" in (text or ""):  # PostgreSQL cannot store it: a 400, never a 500
            errors[name] = ["Null characters are not allowed."]
    if errors:
        raise ValidationError(errors)
    if kind not in FarmerListEntry.Kind.values:
        errors["kind"] = ['Choose "allow" or "block".']
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        errors["note"] = [f"At most {NOTE_MAX} characters."]
    username = (username or "").strip()
    farmer = get_user_model().objects.filter(username__iexact=username, role="farmer").first() if username else None
    if farmer is None:
        errors["username"] = [f"No farmer named “{username}”." if username else "Give the farmer's username."]
    if errors:
        raise ValidationError(errors)
    entry, _ = FarmerListEntry.objects.update_or_create(
        creator=creator, farmer=farmer, defaults={"kind": kind, "note": note}
    )
    return entry


@transaction.atomic
def farmer_list_remove(*, creator, entry_id: int) -> None:
    """Take an entry off the creator's lists; someone else's entry is indistinguishable from none."""
    _require_creator(creator)
    deleted, _ = FarmerListEntry.objects.filter(pk=entry_id, creator=creator).delete()
    if not deleted:
        raise NotFound("No such list entry.")


# ---- Flags ------------------------------------------------------------------------------------


def _text(value, *, field: str, required: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationError({field: [required]})
    if len(text) > limit:
        raise ValidationError({field: [f"At most {limit:,} characters."]})
    if "\x00" in text:
        raise ValidationError({field: ["Null characters are not allowed."]})
    return text


def flag_window_ends(submission: Submission):
    """When a paid demonstration can no longer be flagged (None: not settled)."""
    if submission.settled_at is None:
        return None
    return submission.settled_at + timedelta(days=settings.FORGE_FLAG_WINDOW_DAYS)


@atomic_with_retry
def flag_open(*, submission_id: int, creator, reason: str) -> Flag:
    """The factory's creator flags a paid demonstration for staff review, within
    FORGE_FLAG_WINDOW_DAYS of its settlement. No money moves until staff uphold it. Repeating
    the same flag returns it; a different one on a flagged submission is a 409."""
    reason = _text(reason, field="reason", required="Say what the demonstration missed.", limit=REASON_MAX)
    submission = submission_lock(submission_id)
    if submission is None or submission.factory.creator_id != creator.pk:
        raise NotFound("No such submission.")  # someone else's: as if it did not exist
    existing = Flag.objects.filter(submission=submission).first()
    if existing is not None:
        if existing.raised_by_id == creator.pk and existing.reason == reason:
            return existing
        raise Conflict("This demonstration has already been flagged.")
    if submission.status != Submission.Status.SETTLED:
        raise Conflict("Only a paid demonstration can be flagged.")
    if Bonus.objects.filter(submission=submission).exists():
        raise Conflict("You paid a bonus for this demonstration; it cannot be flagged.")
    ends = flag_window_ends(submission)
    if timezone.now() > ends:
        days = settings.FORGE_FLAG_WINDOW_DAYS
        raise Conflict(f"A demonstration can be flagged within {days} day(s) of its payment; this one's window ended.")
    flag = Flag.objects.create(submission=submission, raised_by=creator, reason=reason)
    notify(
        user=submission.farmer_id,
        kind=Kind.FLAG_RAISED,
        subject=f"Your demonstration for “{submission.factory.title}” was flagged",
        body=f"The creator says: {reason}\nStaff will review it; if they uphold the flag, the payment is reversed.",
        url=f"/farm/submissions/{submission.pk}/",
        payload={"flag_id": flag.pk, "submission_id": submission.pk},
        key=f"flag:{flag.pk}:raised",
    )
    return flag


def _flag_state(flag: Flag, submission: Submission) -> dict:
    return {
        "flag_status": flag.status,
        "submission_status": submission.status,
        "quality_score": submission.quality_score,
        "farmer_reward": submission.farmer_reward,  # base units of the factory's token
    }


@atomic_with_retry
def flag_decide(*, flag_id: int, reviewer, upheld: bool, reason: str) -> Flag:
    """Staff decide a flag. Upheld: the score becomes 0 through `submission_review`, whose
    adjusting transaction reverses the farmer's share, both commissions and the platform fee
    and returns the reward to the pool (to the creator if the factory has closed). Dismissed:
    nothing moves. Audited; repeating the same decision returns the flag."""
    if not getattr(reviewer, "is_staff", False):
        raise Forbidden("Only staff decide flags.")
    reason = _text(reason, field="reason", required="Say why.", limit=REASON_MAX)
    submission_id = Flag.objects.filter(pk=flag_id).values_list("submission_id", flat=True).first()
    if submission_id is None:
        raise NotFound("No such flag.")
    submission = submission_lock(submission_id)  # the lock order: the submission, then its flag
    flag = flag_lock(flag_id)
    wanted = Flag.Status.UPHELD if upheld else Flag.Status.DISMISSED
    if flag.status != Flag.Status.OPEN:
        if flag.status == wanted:
            return flag
        raise Conflict(f"This flag was already decided: {flag.get_status_display().lower()}.")
    before = _flag_state(flag, submission)
    if upheld:
        try:
            submission = submission_review(
                submission_id=submission.pk,
                reviewer=reviewer,
                quality_score="0",
                reason=f"Flag {flag.pk} upheld: {reason}"[:500],
            )
        except InsufficientFunds:
            raise Conflict(
                "The reversal cannot be posted: the farmer or an ambassador has already withdrawn the money. "
                "The flag stays open."
            ) from None
        flag.score_override = submission.overrides.order_by("-pk").first()
    flag.status = wanted
    flag.decided_by = reviewer
    flag.decided_at = timezone.now()
    flag.decision_reason = reason
    flag.save(update_fields=["status", "decided_by", "decided_at", "decision_reason", "score_override"])
    staff_action_record(
        actor=reviewer,
        action=StaffAction.Action.FLAG_DECIDE,
        obj=flag,
        before=before,
        after=_flag_state(flag, submission),
        reason=reason,
    )
    outcome = "upheld: the payment was reversed" if upheld else "dismissed: the payment stands"
    for user_id, url in (
        (submission.farmer_id, f"/farm/submissions/{submission.pk}/"),
        (flag.raised_by_id, f"/creator/factories/{submission.factory_id}/dataset/{submission.pk}/"),
    ):
        notify(
            user=user_id,
            kind=Kind.FLAG_DECIDED,
            subject=f"The flag on a demonstration for “{submission.factory.title}” was {outcome.split(':')[0]}",
            body=f"Staff {outcome}. Their reason: {reason}",
            url=url,
            payload={"flag_id": flag.pk, "submission_id": submission.pk, "upheld": upheld},
            key=f"flag:{flag.pk}:decided",
        )
    return flag


# ---- Bonuses ----------------------------------------------------------------------------------


def bonus_split(amount: int, *, platform_fee_rate) -> tuple[int, int]:
    """(farmer's part, platform fee) of a bonus: the fee is floor(amount x rate), as a
    payout's; the farmer keeps the rounding dust (docs/economics.md "Bonuses")."""
    fee = mul_floor(amount, platform_fee_rate)
    return amount - fee, fee


@atomic_with_retry
def bonus_give(*, submission_id: int, creator, amount, note: str = "") -> Bonus:
    """Pay the farmer of a paid demonstration a bonus from the factory's available pool, once
    per submission (ledger key `bonus:<submission id>`): a repeat with the same amount returns
    the bonus, a different one is a 409. The platform fee applies (docs/economics.md)."""
    note = (note or "").strip()
    if len(note) > 200 or "\x00" in note:
        raise ValidationError({"note": ["At most 200 characters, no null characters."]})
    submission = submission_lock(submission_id)
    if submission is None or submission.factory.creator_id != creator.pk:
        raise NotFound("No such submission.")
    factory = factory_lock(submission.factory_id)
    units = parse_amount(amount, decimals=factory.token.decimals, field="amount")
    existing = Bonus.objects.filter(submission=submission).first()
    if existing is not None:
        if existing.amount == units:
            return existing
        raise Conflict(f"This demonstration already has a bonus of {factory.token.money(existing.amount)}.")
    if submission.status != Submission.Status.SETTLED:
        raise Conflict("A bonus goes to a paid demonstration only.")
    if Flag.objects.filter(submission=submission).exclude(status=Flag.Status.DISMISSED).exists():
        raise Conflict("This demonstration is flagged; it cannot get a bonus.")
    farmer_part, fee = bonus_split(units, platform_fee_rate=economics_config().platform_fee_rate)
    available = Account.objects.get(pk=factory.available_account_id)
    legs = [
        Leg(available, -units),
        Leg(
            account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{submission.farmer_id}", token=factory.token),
            farmer_part,
        ),
    ]
    if fee:
        legs.append(Leg(treasury_account(factory.token), fee))
    try:
        posted = transaction_post(
            key=f"bonus:{submission.pk}",
            kind="bonus",
            legs=legs,
            memo=f"Bonus on submission {submission.pk}: {factory.token.money(units)}",
            actor=creator,
        )
    except InsufficientFunds:
        raise Conflict(
            f"The pool's available balance cannot cover a bonus of {factory.token.money(units)}; fund it first."
        ) from None
    bonus = Bonus.objects.create(
        submission=submission,
        factory=factory,
        farmer_id=submission.farmer_id,
        given_by=creator,
        amount=units,
        platform_fee=fee,
        farmer_amount=farmer_part,
        note=note,
        ledger_transaction=posted,
    )
    notify(
        user=submission.farmer_id,
        kind=Kind.BONUS_PAID,
        subject=f"A bonus of {factory.token.money(farmer_part)} for your work on “{factory.title}”",
        body=note or "The creator rewarded an excellent demonstration.",
        url=f"/farm/submissions/{submission.pk}/",
        payload={"bonus_id": bonus.pk, "submission_id": submission.pk, "amount": str(farmer_part)},
        key=f"bonus:{bonus.pk}",
    )
    return bonus
