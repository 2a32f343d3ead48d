"""Appeals and the staff review queue.

An appeal (one per submission, within FORGE_APPEAL_WINDOW_DAYS of the decision) asks for a
second opinion: the model judge when one is configured (FORGE_GRADER_JUDGE_URL), else staff.
The judge decides only when it agrees with the deterministic rules (pools/grading/judge.py holds
otherwise); an unavailable or hesitant judge sends the appeal to staff. A changed score goes
through `submission_review`: before settlement it settles, after settlement the difference is
posted as an adjusting transaction, so the ledger audit stays clean. Staff decisions are in the
audit trail (score changes as `submission.score_override`, every decision as `appeal.decide`).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from audit.models import StaffAction
from audit.services import staff_action_record
from core.exceptions import ApplicationError, Conflict, Forbidden, NotFound
from core.money import parse_rate
from core.queue import queue_on_commit
from notifications.models import Kind
from notifications.services import notify
from pools.models import Flag, Submission
from pools.services.submissions import submission_review

from .locks import appeal_lock
from .models import Appeal

NOTE_MAX_CHARS = 2000
REASON_MAX_CHARS = 2000


def appeal_window() -> timedelta:
    return timedelta(days=settings.FORGE_APPEAL_WINDOW_DAYS)


def appeal_judge_configured() -> bool:
    return bool(getattr(settings, "FORGE_GRADER_JUDGE_URL", ""))


def appeal_opened_at(submission: Submission):
    """When the decision being appealed was made (the window runs from it)."""
    return submission.settled_at or submission.scored_at or submission.submitted_at


def appeal_refusal(submission: Submission, *, now=None) -> str | None:
    """Why this submission cannot be appealed now, or None. Shared by the page (to show or hide
    the form) and the service."""
    now = now or timezone.now()
    if hasattr(submission, "appeal"):
        return "This submission was already appealed; there is one appeal per submission."
    if Flag.objects.filter(submission=submission, status=Flag.Status.UPHELD).exists():
        # The refusal is staff's decision on the creator's flag, already a second opinion: an
        # appeal (and a judge that knows nothing of the flag) must not pay it back.
        return "Staff upheld the creator's flag on this demonstration; that decision is final."
    held = submission.needs_review and not submission.is_final
    if not (held or submission.status == Submission.Status.REJECTED):
        return "Only a refused or held submission can be appealed."
    if now > appeal_opened_at(submission) + appeal_window():
        return f"The appeal window ({settings.FORGE_APPEAL_WINDOW_DAYS} days) has closed."
    return None


def _clean_text(value, *, field: str, max_chars: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ApplicationError("Enter text.", field=field)
    value = value.replace("\x00", "").strip()
    if required and not value:
        raise ApplicationError("Say why the score is wrong: the note is required.", field=field)
    if len(value) > max_chars:
        raise ApplicationError(f"At most {max_chars} characters.", field=field)
    return value


@transaction.atomic
def appeal_create(*, farmer, submission_id: int, note) -> Appeal:
    note = _clean_text(note, field="note", max_chars=NOTE_MAX_CHARS, required=True)
    from pools.locks import submission_lock

    submission = submission_lock(submission_id)
    if submission is None or submission.farmer_id != farmer.pk:
        raise NotFound("No such submission.")
    refusal = appeal_refusal(submission)
    if refusal:
        raise Conflict(refusal)
    route = Appeal.Route.JUDGE if appeal_judge_configured() else Appeal.Route.STAFF
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(
                submission=submission,
                farmer=farmer,
                note=note,
                route=route,
                was_held=submission.needs_review,
                score_before=submission.quality_score,
            )
    except IntegrityError:  # a concurrent appeal of the same submission won
        raise Conflict("This submission was already appealed; there is one appeal per submission.") from None
    if route == Appeal.Route.JUDGE:
        queue_on_commit("reviews.appeal_judge", appeal.pk)
    notify(
        user=farmer,
        kind=Kind.APPEAL_RECEIVED,
        subject="Appeal received",
        body=(
            "A model judge gives a second opinion first; staff decide when it cannot."
            if route == Appeal.Route.JUDGE
            else f"Staff will review it, usually within {settings.FORGE_REVIEW_EXPECTED_HOURS} hours."
        ),
        url=f"/farm/submissions/{submission.pk}/",
        payload={"appeal_id": appeal.pk, "submission_id": submission.pk},
        key=f"appeal-received:{appeal.pk}",
    )
    return appeal


def _decide(appeal: Appeal, *, decider, quality_score: Decimal | None, reason: str) -> Appeal:
    """Inside the caller's transaction, with the appeal (and its submission) locked."""
    submission = appeal.submission
    if appeal.was_held and submission.needs_review and quality_score is None:
        raise ApplicationError("A held submission needs a score to be released.", field="quality_score")
    changed = quality_score is not None and quality_score != submission.quality_score
    if quality_score is not None and (changed or submission.needs_review):
        submission = submission_review(
            submission_id=submission.pk,
            reviewer=decider,
            quality_score=quality_score,
            reason=f"appeal {appeal.pk}: {reason}"[:500],
        )
        appeal.score_override = submission.overrides.order_by("-pk").first()
    appeal.status = Appeal.Status.UPHELD if changed else Appeal.Status.DISMISSED
    appeal.score_after = submission.quality_score
    appeal.decision_reason = reason
    appeal.decided_by = decider
    appeal.decided_at = timezone.now()
    appeal.save()
    percent = "-" if appeal.score_after is None else f"{(appeal.score_after * 100).quantize(Decimal('1'))}%"
    notify(
        user=appeal.farmer_id,
        kind=Kind.APPEAL_DECIDED,
        subject=("Appeal upheld: " if changed else "Appeal dismissed: ") + f"score {percent}",
        body=f"Reason: {reason}",
        url=f"/farm/submissions/{submission.pk}/",
        payload={"appeal_id": appeal.pk, "submission_id": submission.pk, "status": appeal.status},
        key=f"appeal-decided:{appeal.pk}",
    )
    return appeal


def _state(appeal: Appeal) -> dict:
    return {"status": appeal.status, "score_before": appeal.score_before, "score_after": appeal.score_after}


@transaction.atomic
def appeal_decide(*, appeal_id: int, reviewer, quality_score=None, reason) -> Appeal:
    """Staff decide: a new score (upheld when it differs), or none (dismissed, score kept)."""
    if not reviewer.is_staff:
        raise Forbidden("Only staff decide appeals.")
    reason = _clean_text(reason, field="reason", max_chars=REASON_MAX_CHARS, required=True)
    score = None
    if quality_score not in (None, ""):
        score = parse_rate(quality_score, field="quality_score")
    appeal = appeal_lock(appeal_id)
    if appeal is None:
        raise NotFound("No such appeal.")
    if appeal.status != Appeal.Status.PENDING:
        raise Conflict("This appeal is already decided.")
    before = _state(appeal)
    appeal = _decide(appeal, decider=reviewer, quality_score=score, reason=reason)
    staff_action_record(
        actor=reviewer,
        action=StaffAction.Action.APPEAL_DECIDE,
        obj=appeal,
        before=before,
        after=_state(appeal),
        reason=reason,
    )
    return appeal


def appeals_dismiss(*, appeal_ids: list[int], reviewer, reason) -> int:
    """The admin's bulk "dismiss" (score kept), each its own decision and audit record;
    appeals that cannot be dismissed so (decided, or held without a score) are skipped."""
    done = 0
    for appeal_id in appeal_ids:
        try:
            appeal_decide(appeal_id=appeal_id, reviewer=reviewer, reason=reason)
        except ApplicationError:  # decided meanwhile, or held (a score is needed)
            continue
        done += 1
    return done


def _judge_account() -> User:
    """The service account that signs the judge's score changes (ScoreOverride.reviewed_by)."""
    user, created = User.objects.get_or_create(
        username=settings.FORGE_APPEAL_JUDGE_ACCOUNT, defaults={"role": User.Role.GRADER}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _to_staff(appeal_id: int, note: str) -> None:
    Appeal.objects.filter(pk=appeal_id, status=Appeal.Status.PENDING).update(
        route=Appeal.Route.STAFF, judge_note=note[:500]
    )


def appeal_judge(*, appeal_id: int) -> str:
    """The model judge's second opinion (the call is made outside any transaction). Returns
    what happened: decided, staff (sent to the staff queue) or skipped."""
    from pools.grading import GraderResponseInvalid, GraderUnavailable
    from pools.grading import judge as model_judge
    from pools.selectors import evidence_keyframes_read
    from pools.services.scoring import claim_tasks

    appeal = Appeal.objects.select_related("submission").filter(pk=appeal_id).first()
    if appeal is None or appeal.status != Appeal.Status.PENDING or appeal.route != Appeal.Route.JUDGE:
        return "skipped"
    if not appeal_judge_configured():
        _to_staff(appeal_id, "No model judge is configured.")
        return "staff"
    submission = appeal.submission
    task = claim_tasks([submission])[submission.claim_id]
    if submission.evidence:  # the judge is shown the recording's keyframes, as when scoring
        task = dataclasses.replace(task, keyframes=evidence_keyframes_read(submission.evidence))
    try:
        result = model_judge.grade(
            submission.demonstration,
            task=task,
            url=settings.FORGE_GRADER_JUDGE_URL,
            api_key=settings.FORGE_GRADER_JUDGE_KEY,
            model=settings.FORGE_GRADER_JUDGE_MODEL,
            timeout=float(settings.FORGE_GRADER_JUDGE_TIMEOUT),
            retries=int(settings.FORGE_GRADER_JUDGE_RETRIES),
        )
    except (GraderUnavailable, GraderResponseInvalid) as error:
        _to_staff(appeal_id, f"The judge could not answer: {error}")
        return "staff"
    holds = list(getattr(result, "hold_reasons", ()) or ())
    if holds:
        _to_staff(appeal_id, "The judge and the rules disagree: " + "; ".join(holds))
        return "staff"
    reasons = "; ".join(str(reason) for reason in (result.reasons or [])[:5]) or "no reasons given"
    try:
        with transaction.atomic():
            locked = appeal_lock(appeal_id)
            if locked is None or locked.status != Appeal.Status.PENDING or locked.route != Appeal.Route.JUDGE:
                return "skipped"
            _decide(locked, decider=_judge_account(), quality_score=result.score, reason=f"Model judge: {reasons}")
    except ApplicationError as error:
        # The judge's score cannot be applied (the money to pay it back is gone, the judge's
        # account is not usable): staff decide, instead of the sweeper asking the judge for ever.
        _to_staff(appeal_id, f"The judge's score could not be applied: {error}")
        return "staff"
    return "decided"


def appeals_judge_due(*, older_than_seconds: int = 300) -> list[int]:
    """Judge appeals still pending after a while (a lost message): the sweeper sends them again."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Appeal.objects.filter(status=Appeal.Status.PENDING, route=Appeal.Route.JUDGE, created_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:200]
    )


# --- the staff review queue ---------------------------------------------------------------


def held_review(*, submission_ids: list[int], reviewer, decision: str, quality_score=None, reason="") -> int:
    """The admin's review actions on held submissions, one by one or in bulk: approve (keep the
    grader's score and release), refuse (score 0: nothing paid, the reward returns to the pool)
    or set a score. Each is its own `submission_review` (its transaction, its audit record).
    Rows no longer held are skipped; returns how many were reviewed."""
    if not reviewer.is_staff:
        raise Forbidden("Only staff review held submissions.")
    if decision not in ("approve", "refuse", "score"):
        raise ApplicationError("Unknown decision.", field="decision")
    reason = _clean_text(reason, field="reason", max_chars=500, required=False)
    score = None
    if decision == "score":
        score = parse_rate(quality_score, field="quality_score")
    elif decision == "refuse":
        score = Decimal(0)
    done = 0
    for submission_id in submission_ids:
        with transaction.atomic():
            from pools.locks import submission_lock

            submission = submission_lock(submission_id)
            if submission is None or not submission.needs_review or submission.is_final:
                continue
            value = score if score is not None else submission.quality_score
            if value is None:
                continue  # nothing to approve: the grader never scored it (set a score instead)
            text = reason or f"Reviewed by staff ({decision})."
            appeal = appeal_lock(submission.appeal.pk) if hasattr(submission, "appeal") else None
            if appeal is not None and appeal.status == Appeal.Status.PENDING:
                # A pending appeal of a held submission is answered by this review.
                before = _state(appeal)
                appeal = _decide(appeal, decider=reviewer, quality_score=value, reason=text)
                staff_action_record(
                    actor=reviewer,
                    action=StaffAction.Action.APPEAL_DECIDE,
                    obj=appeal,
                    before=before,
                    after=_state(appeal),
                    reason=text,
                )
            else:
                submission_review(
                    submission_id=submission_id,
                    reviewer=reviewer,
                    quality_score=value,
                    reason=reason or f"review queue: {decision}",
                )
        done += 1
    return done
