"""Row locks of the reviews app. An appeal is locked after its submission (the order of
ledger/locks.py: submission rows first), so a decision and a settlement of the same submission
queue up on the submission row, never deadlock."""

from pools.locks import submission_lock

from .models import Appeal


def appeal_lock(appeal_id: int) -> Appeal | None:
    submission_id = Appeal.objects.filter(pk=appeal_id).values_list("submission_id", flat=True).first()
    if submission_id is None:
        return None
    submission_lock(submission_id)
    return Appeal.objects.select_for_update().select_related("submission").filter(pk=appeal_id).first()
