"""Celery entry points for notifications: send the pending emails, deliver one webhook message
(and schedule its retry), sweep what a lost message left behind. Each is idempotent: the rows
are the intent, and each attempt claims its row with SKIP LOCKED."""

from celery import shared_task

from core.queue import wake_up_clear

from .services import (
    EMAIL_BATCH,
    EMAIL_WAKE_KEY,
    emails_send_pending,
    webhook_deliver,
    webhook_deliveries_due,
)

TASK = {"acks_late": True, "time_limit": 120, "soft_time_limit": 100}


@shared_task(name="notifications.emails_send", **TASK)
def emails_send_task() -> int:
    sent = emails_send_pending()
    if sent >= EMAIL_BATCH:
        emails_send_task.delay()
    else:
        wake_up_clear(EMAIL_WAKE_KEY)
    return sent


@shared_task(name="notifications.webhook_deliver", **TASK)
def webhook_deliver_task(delivery_id: int) -> int | None:
    retry_in = webhook_deliver(delivery_id=delivery_id)
    if retry_in is not None:
        # The backoff: the row's next_attempt_at is the durable copy (the sweeper's).
        webhook_deliver_task.apply_async((delivery_id,), countdown=retry_in)
    return retry_in


@shared_task(name="notifications.webhooks_sweep", **TASK)
def webhooks_sweep_task() -> int:
    due = webhook_deliveries_due()
    for delivery_id in due:
        webhook_deliver_task.delay(delivery_id)
    return len(due)
