"""Row locks of the pools app, in one place. The lock order of the whole project is written
once, in `ledger/locks.py`: the work item (submission rows in primary-key order, or one claim
or deposit), then factory rows (primary-key order), then ledger accounts (inside the ledger's
posting, last).

Every helper locks its own table only (`of=("self",)`): a `select_related` row (the token,
the creator) is read, never locked. Factories are locked `FOR NO KEY UPDATE`: their key never
changes, so the foreign-key checks of new claims and submissions (`KEY SHARE`) pass while a
claim, a rate change, a close or a settlement holds the row.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import Deposit, EconomicsConfig, Factory, Flag, Submission


def factory_lock(factory_id: int, *, related: Iterable[str] = ("token",)) -> Factory:
    """One factory, locked (with its `related` rows read, not locked)."""
    return Factory.objects.select_for_update(of=("self",), no_key=True).select_related(*related).get(pk=factory_id)


def factories_lock(factory_ids: Iterable[int]) -> dict[int, str]:
    """Several factories, locked in primary-key order; {id: status}."""
    return dict(
        Factory.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=sorted(set(factory_ids)))
        .order_by("pk")
        .values_list("pk", "status")
    )


def submission_lock(submission_id: int) -> Submission | None:
    """One submission, locked (its claim read), or None."""
    return Submission.objects.select_for_update(of=("self",)).select_related("claim").filter(pk=submission_id).first()


def submissions_lock(submission_ids: Iterable[int], **conditions):
    """A queryset locking the submissions among `submission_ids` that meet `conditions`, in
    primary-key order (evaluate it inside the transaction)."""
    return (
        Submission.objects.select_for_update(of=("self",))
        .filter(pk__in=sorted(set(submission_ids)), **conditions)
        .order_by("pk")
    )


def submissions_lock_waiting(condition, *, limit: int) -> list[int]:
    """Up to `limit` ids of submissions meeting `condition`, locked in primary-key order,
    passing over rows another worker holds (SKIP LOCKED: two workers never wait for each
    other's batches)."""
    return list(
        Submission.objects.select_for_update(skip_locked=True)
        .filter(condition)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def flag_lock(flag_id: int) -> Flag | None:
    """One flag, locked, after its submission (`submission_lock`): the submission is the work
    item of the lock order, the flag only its companion row."""
    return Flag.objects.select_for_update(of=("self",)).filter(pk=flag_id).first()


def deposit_lock(deposit_id: int) -> Deposit:
    """One deposit, locked (its factory and token read), after its factory (`factory_lock`)."""
    return Deposit.objects.select_for_update(of=("self",)).select_related("factory", "token").get(pk=deposit_id)


def economics_config_lock() -> EconomicsConfig:
    """The economics settings row, created with its defaults when missing, locked. Taken after
    the commission tiers (`referrals.locks.commission_tiers_lock`) by the settings editor."""
    EconomicsConfig.objects.get_or_create(id=1)
    return EconomicsConfig.objects.select_for_update().get(id=1)
