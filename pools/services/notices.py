"""What pools tells farmers (notifications.services.notify_many): a submission paid, refused,
held for review, or its score changed by a review. Called inside the money transactions; the
notifications are recorded only after they commit (see notifications/services.py)."""

from __future__ import annotations

from decimal import Decimal

from core.money import format_amount
from notifications.models import Kind
from notifications.services import Notice, WebhookEvent, notify, notify_many, webhook_events_send_many

from ..models import Factory, Submission


def _percent(score: Decimal | None) -> str:
    return "-" if score is None else f"{(score * 100).quantize(Decimal('1'))}%"


def _url(submission_id: int) -> str:
    return f"/farm/submissions/{submission_id}/"


def submissions_notify_settled(rows: list[Submission], factories: dict[int, Factory]) -> None:
    notices = []
    for row in rows:
        factory = factories[row.factory_id]
        token = factory.token
        paid = row.status == Submission.Status.SETTLED
        if paid:
            amount = format_amount(row.farmer_reward, decimals=token.decimals, trim=True)
            subject = f"Paid {amount} {token.symbol} for “{factory.title}”"
            body = f"Your demonstration scored {_percent(row.quality_score)} and was paid."
        else:
            subject = f"Not paid: “{factory.title}”"
            body = (
                f"Your demonstration scored {_percent(row.quality_score)}, below the quality threshold. "
                "You can appeal from the submission page within the appeal window."
            )
        notices.append(
            Notice(
                user_id=row.farmer_id,
                kind=Kind.SUBMISSION_PAID if paid else Kind.SUBMISSION_REFUSED,
                subject=subject,
                body=body,
                url=_url(row.pk),
                payload={"submission_id": row.pk, "factory_id": row.factory_id, "status": row.status},
                key=f"settled:{row.pk}",
            )
        )
    notify_many(notices=notices)
    # The creators' webhooks hear of every settlement on their factories (no centre entry).
    webhook_events_send_many(
        events=[
            WebhookEvent(
                owner_id=factories[row.factory_id].creator_id,
                event_type="submission.settled",
                data={
                    "submission_id": row.pk,
                    "factory_id": row.factory_id,
                    "status": row.status,
                    "quality_score": str(row.quality_score),
                    "farmer_reward": str(row.farmer_reward),
                    "token": factories[row.factory_id].token.symbol,
                },
                key=str(row.pk),
            )
            for row in rows
        ]
    )


def submissions_notify_held(rows: list[Submission]) -> None:
    notify_many(
        notices=[
            Notice(
                user_id=row.farmer_id,
                kind=Kind.SUBMISSION_HELD,
                subject="Your submission is held for a review",
                body="Reason: " + "; ".join(row.review_reasons or ["a staff review"]),
                url=_url(row.pk),
                payload={"submission_id": row.pk, "reasons": list(row.review_reasons or [])},
                key=f"held:{row.pk}",
            )
            for row in rows
        ]
    )


def submission_notify_score_changed(submission: Submission, *, old_score, override_id: int) -> None:
    notify(
        user=submission.farmer_id,
        kind=Kind.SCORE_CHANGED,
        subject=f"Score changed: {_percent(old_score)} → {_percent(submission.quality_score)}",
        body=f"A review changed your score; the difference was settled. Status: {submission.get_status_display()}.",
        url=_url(submission.pk),
        payload={"submission_id": submission.pk, "override_id": override_id},
        key=f"override:{override_id}",
    )
