"""Celery entry points for appeals: the model judge's second opinion, and its sweeper."""

from celery import shared_task

from .services import appeal_judge, appeals_judge_due

TASK = {"acks_late": True, "time_limit": 600, "soft_time_limit": 540}


@shared_task(name="reviews.appeal_judge", **TASK)
def appeal_judge_task(appeal_id: int) -> str:
    return appeal_judge(appeal_id=appeal_id)


@shared_task(name="reviews.appeals_sweep", **TASK)
def appeals_sweep_task() -> int:
    due = appeals_judge_due()
    for appeal_id in due:
        appeal_judge_task.delay(appeal_id)
    return len(due)
